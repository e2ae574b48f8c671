// Types of @mfe-gitops/deploy-request. The wire payload's type is generated from the committed
// JSON Schema (generated/deploy-request.d.ts, by `npm run build`).
import type {
  CanonicalDeployRequestPayload,
  MfeGitopsDeployRequest,
  SeedDeployRequestPayload,
} from '../generated/deploy-request.js';

/** The payload as sent in `client_payload` (canonical form with `id`, or seed form with `type`). */
export type DeployRequestPayload = MfeGitopsDeployRequest;
export type { CanonicalDeployRequestPayload, SeedDeployRequestPayload };

/** The stable rule codes, the same as `mfe validate --format json` reports. */
export type Rule =
  | 'syntax' | 'input-too-large' | 'duplicate-key' | 'not-an-object' | 'required'
  | 'unknown-key' | 'too-many-keys' | 'too-large' | 'id-or-type' | 'type' | 'pattern'
  | 'max-length' | 'semver' | 'timestamp' | 'git-ref' | 'cdn-path' | 'envelope' | 'schema';

export interface Problem {
  /** JSON pointer of the offending value in the document given (`""` is the whole document). */
  field: string;
  rule: Rule;
  /** A sentence naming the problem (wording may differ from the Rust tool's). */
  message: string;
}

/** A valid request in its canonical form (what the GitOps repository acts on). */
export interface DeployRequest {
  /** The id sent, or (seed form) the UUIDv5 derived from the other fields. */
  id: string;
  timestamp: string;
  user: string;
  mfe: string;
  version: string;
  environment: string;
  cache_invalidation_keys: string[];
  repository: string;
  ref: string;
  /** Lowercased. */
  sha: string;
}

export type ValidationResult =
  | { valid: true; problems: []; request: DeployRequest; form: 'canonical' | 'seed'; envelope: boolean }
  | { valid: false; problems: Problem[]; request?: undefined; form?: undefined; envelope: boolean };

export interface ValidateOptions {
  /**
   * The event type a whole `repository_dispatch` event's `action` must equal. Default
   * `deploy-mfe-trigger` (as `mfe validate`); `null` skips the check.
   */
  eventType?: string | null;
}

/**
 * Validates a deploy request: a bare `client_payload` or a whole `repository_dispatch` event, as
 * JSON text, bytes, or an already parsed value (which can no longer show repeated keys).
 */
export declare function validateDeployRequest(
  input: unknown | string | Uint8Array,
  options?: ValidateOptions,
): ValidationResult;

/** The seed form's id: a UUIDv5 over the other fields (`paths` are the split invalidation keys). */
export declare function deriveSeedId(payload: Record<string, string>, paths: string[]): string;

export declare const EVENT_TYPE: 'deploy-mfe-trigger';
export declare const KEYS: readonly string[];
export declare const MAX_INPUT_BYTES: number;
export declare const MAX_PAYLOAD_BYTES: number;
export declare const MAX_TOP_LEVEL_KEYS: number;
/** The deploy-request JSON Schema (draft 2020-12). */
export declare const schema: Record<string, unknown>;

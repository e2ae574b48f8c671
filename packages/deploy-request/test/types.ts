// Type-checked by `npm run check` (tsc --noEmit): the published types describe the API as the
// unit tests use it. Never run, only compiled.
import {
  type CanonicalDeployRequestPayload,
  type DeployRequestPayload,
  type Problem,
  type SeedDeployRequestPayload,
  EVENT_TYPE,
  schema,
  validateDeployRequest,
} from '@mfe-gitops/deploy-request';

const canonical: CanonicalDeployRequestPayload = {
  id: '01J9Z8Q4W6X2Y3V5T7R9P1N3M5',
  timestamp: '2024-06-01T12:00:00Z',
  user: 'octocat',
  mfe: 'checkout',
  version: '1.2.3',
  environment: 'prod',
  cache_invalidation_keys: ['/mfe/checkout/*'],
  repository: 'acme/checkout',
  ref: 'refs/heads/main',
  sha: '0123456789abcdef0123456789abcdef01234567',
};
const { id: _id, ...rest } = canonical;
const seed: SeedDeployRequestPayload = { ...rest, type: EVENT_TYPE, cache_invalidation_keys: '/mfe/checkout/*' };
const payloads: DeployRequestPayload[] = [canonical, seed];

// @ts-expect-error: a payload needs `id` or `type`
const neither: DeployRequestPayload = rest;
// @ts-expect-error: unknown keys are not part of the contract
const extra: CanonicalDeployRequestPayload = { ...canonical, extra: 1 };

for (const payload of payloads) {
  const result = validateDeployRequest(JSON.stringify(payload), { eventType: null });
  if (result.valid) {
    const id: string = result.request.id;
    const form: 'canonical' | 'seed' = result.form;
    const keys: string[] = result.request.cache_invalidation_keys;
    console.log(id, form, keys, result.envelope);
  } else {
    const problems: Problem[] = result.problems;
    // @ts-expect-error: no request on an invalid result
    const id: string = result.request.id;
    console.log(problems.map((p) => `${p.field} ${p.rule}`), id);
  }
}
validateDeployRequest(new Uint8Array(0));
const title: unknown = schema.title;
console.log(title, neither, extra);

//! Amazon CloudFront backend (aws-sdk-cloudfront).
//!
//! SDK errors become [`Error`]s naming the operation, the service's error code and message, or
//! a short cause for transport failures: never the raw HTTP response (headers, body).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudfront::operation::create_invalidation::CreateInvalidationError;
use aws_sdk_cloudfront::operation::get_distribution::GetDistributionError;
use aws_sdk_cloudfront::operation::get_invalidation::GetInvalidationError;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use gitops_aws_errors::describe_sdk_error;
use gitops_retry::RetryPolicy;

use crate::driver::{self, Backend, Polling, Settings};
use crate::{
    BatchReceipt, Cdn, Error, InvalidationReceipt, InvalidationRequest, InvalidationStatus,
};

/// The IAM actions [`CloudFrontCdn`] calls, each on its distribution's ARN:
/// `CreateInvalidation`, `GetInvalidation` (waiting for it) and `GetDistribution` (bootstrap and
/// its check). `gitops iam-policy` grants exactly these.
pub const IAM_ACTIONS: &[&str] = &[
    "cloudfront:CreateInvalidation",
    "cloudfront:GetDistribution",
    "cloudfront:GetInvalidation",
];

/// CloudFront invalidations on one distribution.
///
/// Every batch is one `CreateInvalidation` whose `CallerReference` is the request's reference
/// (suffixed `-<index>` when the request needs several batches), so a retried deploy gets the
/// existing invalidation back instead of a second one. `TooManyInvalidationsInProgress` and
/// throttling are retried with jittered exponential backoff under a [`RetryPolicy`]
/// ([`RetryPolicy::OUTSIDE`] unless [`CloudFrontCdn::with_retry_policy`] says otherwise);
/// [`Cdn::wait`] polls `GetInvalidation` until `Completed` ([`Polling`]).
///
/// A request that gets no answer (the client's `TimeoutConfig` elapsed, connection refused or
/// reset) is [`Error::Backend`] with a short cause, at once: the SDK's own retry policy
/// already ran inside the call, so the driver does not multiply it. Callers treat
/// `Backend` as worth retrying later (the deploy's exit 3).
#[derive(Debug, Clone)]
pub struct CloudFrontCdn {
    backend: CloudFrontBackend,
    settings: Settings,
}

#[derive(Debug, Clone)]
struct CloudFrontBackend {
    client: Client,
    distribution_id: String,
}

impl CloudFrontCdn {
    /// A client from the standard AWS environment (`aws-config` defaults: region,
    /// credentials chain including OIDC web identity, `AWS_ENDPOINT_URL` /
    /// `AWS_ENDPOINT_URL_CLOUDFRONT`). CloudFront is global: without a configured region,
    /// `us-east-1` is used.
    pub async fn from_env(distribution_id: impl Into<String>) -> Result<Self, Error> {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let mut builder = aws_sdk_cloudfront::config::Builder::from(&config);
        if config.region().is_none() {
            builder = builder.region(aws_sdk_cloudfront::config::Region::new("us-east-1"));
        }
        Self::new(Client::from_conf(builder.build()), distribution_id)
    }

    /// Over an existing client (tests, custom endpoints).
    pub fn new(client: Client, distribution_id: impl Into<String>) -> Result<Self, Error> {
        let distribution_id = distribution_id.into();
        if distribution_id.is_empty() || !distribution_id.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(Error::invalid(
                "distribution_id",
                format!("`{distribution_id}` is not a CloudFront distribution id"),
            ));
        }
        Ok(Self {
            backend: CloudFrontBackend {
                client,
                distribution_id,
            },
            settings: Settings {
                retry: RetryPolicy::OUTSIDE,
                polling: Polling::DEFAULT,
            },
        })
    }

    /// Replace the bounds of the retries of throttled calls (default
    /// [`RetryPolicy::OUTSIDE`]).
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// Replace the status polling (default [`Polling::DEFAULT`]).
    #[must_use]
    pub fn with_polling(mut self, polling: Polling) -> Self {
        self.settings.polling = polling;
        self
    }

    /// The distribution invalidated.
    pub fn distribution_id(&self) -> &str {
        &self.backend.distribution_id
    }

    /// For `gitops bootstrap`: check (`GetDistribution`) that the distribution exists.
    /// Never creates anything; a missing distribution is [`Error::NotFound`].
    pub async fn ensure_distribution_exists(&self) -> Result<(), Error> {
        self.backend
            .client
            .get_distribution()
            .id(&self.backend.distribution_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                let code = e.as_service_error().and_then(|e| match e {
                    GetDistributionError::AccessDenied(_) => Some("AccessDenied"),
                    GetDistributionError::NoSuchDistribution(_) => Some("NoSuchDistribution"),
                    _ => None,
                });
                classify(
                    "GetDistribution",
                    &e,
                    code,
                    &self.backend.distribution_id,
                    &self.backend.distribution_id,
                )
            })
    }
}

#[async_trait]
impl Cdn for CloudFrontCdn {
    async fn invalidate(
        &self,
        request: &InvalidationRequest,
    ) -> Result<InvalidationReceipt, Error> {
        driver::invalidate(&self.backend, &self.settings, request).await
    }

    async fn wait(&self, receipt: &InvalidationReceipt, timeout: Duration) -> Result<(), Error> {
        driver::wait(&self.backend, &self.settings, receipt, timeout).await
    }
}

#[async_trait]
impl Backend for CloudFrontBackend {
    async fn create(
        &self,
        caller_reference: &str,
        paths: &[String],
    ) -> Result<BatchReceipt, Error> {
        let quantity = i32::try_from(paths.len())
            .map_err(|_| Error::invalid("paths", "too many paths for one batch"))?;
        let batch = InvalidationBatch::builder()
            .caller_reference(caller_reference)
            .paths(
                Paths::builder()
                    .quantity(quantity)
                    .set_items(Some(paths.to_vec()))
                    .build()
                    .map_err(|e| Error::invalid("paths", e.to_string()))?,
            )
            .build()
            .map_err(|e| Error::invalid("paths", e.to_string()))?;
        let output = self
            .client
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await
            .map_err(|e| {
                let code = e.as_service_error().and_then(create_error_code);
                classify(
                    "CreateInvalidation",
                    &e,
                    code,
                    &self.distribution_id,
                    caller_reference,
                )
            })?;
        let invalidation = output
            .invalidation()
            .ok_or_else(|| missing("CreateInvalidation", "Invalidation"))?;
        // The SDK fills a required field the answer lacks with "": an empty id is no id.
        if invalidation.id().is_empty() {
            return Err(missing("CreateInvalidation", "Invalidation.Id"));
        }
        Ok(BatchReceipt {
            id: invalidation.id().to_owned(),
            caller_reference: caller_reference.to_owned(),
            path_count: paths.len(),
            status: status_of("CreateInvalidation", invalidation.status())?,
        })
    }

    async fn status(&self, id: &str) -> Result<InvalidationStatus, Error> {
        let output = self
            .client
            .get_invalidation()
            .distribution_id(&self.distribution_id)
            .id(id)
            .send()
            .await
            .map_err(|e| {
                let code = e.as_service_error().and_then(|e| match e {
                    GetInvalidationError::AccessDenied(_) => Some("AccessDenied"),
                    GetInvalidationError::NoSuchDistribution(_) => Some("NoSuchDistribution"),
                    GetInvalidationError::NoSuchInvalidation(_) => Some("NoSuchInvalidation"),
                    _ => None,
                });
                classify("GetInvalidation", &e, code, &self.distribution_id, id)
            })?;
        let invalidation = output
            .invalidation()
            .ok_or_else(|| missing("GetInvalidation", "Invalidation"))?;
        status_of("GetInvalidation", invalidation.status())
    }
}

/// An answer of `operation` without `field`.
fn missing(operation: &str, field: &str) -> Error {
    Error::Corrupt {
        what: format!("{operation} answer"),
        reason: format!("it has no {field}"),
    }
}

/// CloudFront's two statuses (`InProgress`, `Completed`; emulators write them in capitals).
/// Anything else, an empty status included, is an unreadable answer, never taken for either.
fn status_of(operation: &str, status: &str) -> Result<InvalidationStatus, Error> {
    if status.eq_ignore_ascii_case("Completed") {
        Ok(InvalidationStatus::Completed)
    } else if status.eq_ignore_ascii_case("InProgress")
        || status.eq_ignore_ascii_case("IN_PROGRESS")
    {
        Ok(InvalidationStatus::InProgress)
    } else {
        let shown: String = status.chars().take(40).collect();
        Err(Error::Corrupt {
            what: format!("{operation} answer"),
            reason: format!("unknown invalidation status {shown:?}"),
        })
    }
}

/// The error code of a modeled `CreateInvalidation` error (the modeled variant is matched,
/// not only the wire code, so errors built without metadata classify the same).
fn create_error_code(e: &CreateInvalidationError) -> Option<&'static str> {
    match e {
        CreateInvalidationError::TooManyInvalidationsInProgress(_) => {
            Some("TooManyInvalidationsInProgress")
        }
        CreateInvalidationError::AccessDenied(_) => Some("AccessDenied"),
        CreateInvalidationError::NoSuchDistribution(_) => Some("NoSuchDistribution"),
        CreateInvalidationError::BatchTooLarge(_) => Some("BatchTooLarge"),
        CreateInvalidationError::InvalidArgument(_) => Some("InvalidArgument"),
        CreateInvalidationError::InconsistentQuantities(_) => Some("InconsistentQuantities"),
        CreateInvalidationError::MissingBody(_) => Some("MissingBody"),
        _ => None,
    }
}

/// Map an SDK error of `operation` to [`Error`]. `code` is the modeled error's code when
/// known (else the wire code is used); `subject` is the caller reference, invalidation id or
/// distribution id concerned. Messages come from [`describe_sdk_error`]: one line, never the
/// raw HTTP response.
fn classify<E>(
    operation: &str,
    err: &SdkError<E>,
    code: Option<&str>,
    distribution_id: &str,
    subject: &str,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = code
        .or_else(|| err.as_service_error().and_then(ProvideErrorMetadata::code))
        .map(str::to_owned);
    let reason = describe_sdk_error(operation, err, code.as_deref());
    if !matches!(err, SdkError::ServiceError(_)) {
        // No answer (timeout, refused, reset), an unreadable answer or a request that could
        // not be built: the SDK's retries already ran.
        return Error::Backend { reason };
    }
    match code.as_deref() {
        Some(
            "TooManyInvalidationsInProgress"
            | "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded",
        ) => Error::Throttled {
            attempts: 0,
            reason,
        },
        Some("InvalidationBatchAlreadyExists") => Error::Conflict {
            reference: subject.to_owned(),
            reason: "the caller reference was already used with different paths".to_owned(),
        },
        Some(
            "AccessDenied"
            | "AccessDeniedException"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "UnrecognizedClientException",
        ) => Error::Unauthorized { reason },
        Some("NoSuchDistribution") => Error::NotFound {
            what: format!("CloudFront distribution `{distribution_id}` ({reason})"),
        },
        Some("NoSuchInvalidation") => Error::NotFound {
            what: format!(
                "invalidation `{subject}` of CloudFront distribution `{distribution_id}` \
                 ({reason})"
            ),
        },
        Some("NoSuchResource") => Error::NotFound {
            what: format!("{subject} ({reason})"),
        },
        Some("BatchTooLarge" | "InvalidArgument" | "InconsistentQuantities" | "MissingBody") => {
            Error::Invalid {
                field: "paths".to_owned(),
                reason,
            }
        }
        _ => Error::Backend { reason },
    }
}

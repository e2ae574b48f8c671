//! # gitops-aws-errors
//!
//! One rule for turning an AWS SDK failure into an error message: the operation, then the
//! service's error code and message for a service error, a short cause ("timed out",
//! "connection refused", ...) for a request that got no answer, the HTTP status for an
//! unreadable response, and the request id when there is one; on one line, at most a few
//! hundred characters. Never the raw HTTP response: an SDK error's `Debug` (and
//! `DisplayErrorContext`) carries headers and bodies, which must not reach logs or users.
//!
//! Used by every adapter that names an AWS SDK (`gitops-db-registry`, `gitops-cdn`,
//! `gitops-runtime`), so the messages read alike.

use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::request_id::RequestId;

/// One line describing an SDK failure of `operation`, without the raw HTTP response (no
/// headers, no body): the service's error code (`code` when the caller knows a better one, else
/// the wire code) and message for a
/// service error, a short cause ("timed out", "connection refused", ...) for transport
/// failures, the HTTP status for an unreadable response; the `x-amzn-requestid` value when
/// there is one.
pub fn describe_sdk_error<E>(
    operation: &str,
    err: &SdkError<E, HttpResponse>,
    code: Option<&str>,
) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let what = match err {
        SdkError::ConstructionFailure(_) => {
            let cause = std::error::Error::source(err).map(ToString::to_string);
            format!(
                "the request could not be built{}",
                cause
                    .map(|c| format!(" ({})", one_line(&c)))
                    .unwrap_or_default()
            )
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(failure) => failure
            .as_connector_error()
            .map_or("the request could not be sent", dispatch_cause)
            .to_owned(),
        SdkError::ServiceError(_) => match (code.or_else(|| err.code()), err.message()) {
            (Some(code), Some(message)) => format!("{}: {}", one_line(code), one_line(message)),
            (Some(code), None) => one_line(code),
            (None, Some(message)) => one_line(message),
            (None, None) => match status {
                Some(status) => format!("HTTP {status}"),
                None => "service error".to_owned(),
            },
        },
        SdkError::ResponseError(_) => match status {
            Some(status) => format!("unreadable response (HTTP {status})"),
            None => "unreadable response".to_owned(),
        },
        _ => "failed".to_owned(),
    };
    match err.request_id() {
        Some(id) if !id.is_empty() => format!("{operation}: {what} (request id {})", one_line(id)),
        _ => format!("{operation}: {what}"),
    }
}

/// A short cause for a request that got no response, from the first I/O error in the chain.
fn dispatch_cause(failure: &ConnectorError) -> &'static str {
    use std::io::ErrorKind;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(failure);
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            match io.kind() {
                ErrorKind::ConnectionRefused => return "connection refused",
                ErrorKind::ConnectionReset => return "connection reset",
                ErrorKind::ConnectionAborted => return "connection aborted",
                ErrorKind::TimedOut => return "timed out",
                ErrorKind::HostUnreachable => return "host unreachable",
                ErrorKind::NetworkUnreachable => return "network unreachable",
                ErrorKind::AddrNotAvailable => return "address not available",
                ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe => {
                    return "connection closed by the server";
                }
                _ => {}
            }
        }
        source = error.source();
    }
    if failure.is_timeout() {
        "timed out"
    } else if failure.is_io() {
        "connection failed"
    } else if failure.is_user() {
        "the request could not be sent (client configuration)"
    } else {
        "the request could not be sent"
    }
}

/// `text` on one line (control characters become spaces), at most 300 characters.
pub fn one_line(text: &str) -> String {
    const MAX: usize = 300;
    let mut out: String = text
        .chars()
        .take(MAX)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn response(status: u16, body: &str) -> HttpResponse {
        let mut response = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(body.to_owned()),
        );
        response
            .headers_mut()
            .insert("x-amz-secret-looking-header", "Bearer abc");
        response
    }

    #[test]
    fn a_service_error_is_its_code_and_message_only() {
        let meta = ErrorMetadata::builder()
            .code("ResourceNotFoundException")
            .message("Requested resource not found\nsecond line")
            .build();
        let err: SdkError<ErrorMetadata, HttpResponse> =
            SdkError::service_error(meta, response(400, "{\"raw\": \"body text\"}"));
        let text = describe_sdk_error("GetItem", &err, None);
        assert_eq!(
            text,
            "GetItem: ResourceNotFoundException: Requested resource not found second line"
        );
        assert!(!text.contains("body text") && !text.contains("x-amz") && !text.contains("Bearer"));
        let text = describe_sdk_error("GetItem", &err, Some("NoSuchTable"));
        assert!(text.starts_with("GetItem: NoSuchTable: "), "{text}");
    }

    #[test]
    fn transport_failures_are_a_short_cause() {
        let err: SdkError<ErrorMetadata, HttpResponse> =
            SdkError::timeout_error("deadline elapsed after 1s");
        assert_eq!(describe_sdk_error("Query", &err, None), "Query: timed out");
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let err: SdkError<ErrorMetadata, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::io(Box::new(refused)));
        assert_eq!(
            describe_sdk_error("Query", &err, None),
            "Query: connection refused"
        );
    }

    #[test]
    fn one_line_strips_control_characters_and_cuts() {
        assert_eq!(one_line("a\r\nb\tc"), "a  b c");
        let long = "x".repeat(1000);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), 303);
        assert!(cut.ends_with("..."));
    }
}

//! `fake-github --listen 127.0.0.1:0 --data DIR [--openapi FILE]`: prints its base URL as the
//! first line of stdout, then serves until killed.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

/// A stateful stand-in for GitHub's REST API over real bare git repositories.
#[derive(Debug, Parser)]
#[command(name = "fake-github", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Directory holding the repositories and the metadata file.
    #[arg(long)]
    data: PathBuf,
    /// GitHub's OpenAPI description (`api.github.com.json`): validate every response against it.
    #[arg(long, env = gitops_testkit::ENV_OPENAPI)]
    openapi: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let app = match gitops_testkit::App::new(&args.data, args.openapi.as_deref()) {
        Ok(app) => Arc::new(app),
        Err(e) => {
            eprintln!("fake-github: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-github: cannot listen on {}: {e}", args.listen);
            return ExitCode::from(2);
        }
    };
    match listener.local_addr() {
        Ok(addr) => {
            let mut out = std::io::stdout().lock();
            if writeln!(out, "http://{addr}")
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::from(2);
            }
        }
        Err(e) => {
            eprintln!("fake-github: {e}");
            return ExitCode::from(2);
        }
    }
    match gitops_testkit::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-github: {e}");
            ExitCode::FAILURE
        }
    }
}

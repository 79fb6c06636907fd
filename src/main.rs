//! The command line: `serve`, `migrate`, `schema`, `seed`, `documents`. Thin on purpose:
//! all the work is in the library, so tests and tools reuse the same code.

use clap::Parser;
use conduit_gateway::config::{Cli, Command};
use conduit_gateway::{db, documents, graphql, seed, startup, telemetry};

/// mimalloc instead of glibc's malloc: a profile of the `deep` benchmark
/// spent ~30 % of the server's CPU in glibc malloc/free and its arena
/// locks (large responses allocate and free many small values across both
/// worker threads). `conduit_gateway::allocator` says how it is called,
/// and that it is the C library's malloc too.
#[global_allocator]
static ALLOCATOR: conduit_gateway::allocator::Mimalloc = conduit_gateway::allocator::Mimalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A `.env` file is optional; its values never override the real environment.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    match run(cli.command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // One clear line for people, the whole chain for the log.
            tracing::error!(error = ?error, "conduit-gateway stopped");
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => startup::App::build(config).await?.run_until_stopped().await,
        Command::Migrate(args) => {
            let conn = db::connect(&args).await?;
            db::migrate(&conn).await
        }
        Command::Schema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        Command::Seed(args) => seed::command(args).await,
        Command::Documents(args) => documents::command(args).await,
    }
}

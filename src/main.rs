use clap::Parser;

fn main() -> std::process::ExitCode {
    match portal::cli::run(portal::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portal: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! The `corekv` binary: read the command line and config file, run the shards.

use corekv::config::{Config, Startup, USAGE, parse_args};

/// mimalloc instead of glibc malloc: size classes without a per-allocation
/// header (keys and small packs are many tiny allocations) and thread-local
/// heaps that suit one shard per thread. See README "Memory".
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (file, options) = match parse_args(&argv) {
        Startup::Help => {
            println!("{USAGE}");
            return;
        }
        Startup::Version => {
            println!(
                "corekv {} (Redis {} compatible)",
                env!("CARGO_PKG_VERSION"),
                corekv::config::REDIS_VERSION
            );
            return;
        }
        Startup::Run { file, options } => (file, options),
    };
    let config = match Config::load(file.as_deref(), &options) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = corekv::server::init_logging(&config) {
        eprintln!("{e}");
        std::process::exit(1);
    }
    std::process::exit(corekv::server::run(config));
}

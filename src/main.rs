//! The `corekv` binary: parse flags, load the config, run the shards.

use clap::Parser;
use corekv::config::{Cli, Config};

/// mimalloc instead of glibc malloc: size classes without a per-allocation
/// header (keys and small packs are many tiny allocations) and thread-local
/// heaps that suit one shard per thread. See README "Memory".
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let config = match Config::load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let level = corekv::commands::server::log_level(config.get("loglevel"))
        .unwrap_or(log::LevelFilter::Info);
    env_logger::Builder::new()
        .filter_level(level)
        .format_timestamp_millis()
        .init();
    std::process::exit(corekv::server::run(config));
}

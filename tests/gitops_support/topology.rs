//! A generated topology of realistic size: one production environment, `clusters` clusters,
//! `namespaces` namespaces placed on every cluster, spread over the dmz/app/data zones.

use std::fmt::Write;
use std::path::Path;

/// Writes `segplan.toml` and `big.toml` into `dir`. `reason` is the reason of the dmz -> app
/// flow, which appears in every policy of that flow: changing it changes many files.
pub fn write(dir: &Path, clusters: usize, namespaces: usize, reason: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let project = format!(
        "[project]\nname = \"bench\"\n\n\
         [zones.dmz]\nsensitivity = \"public\"\ninternet_ingress = [\"443/TCP\"]\n\n\
         [zones.app]\nsensitivity = \"internal\"\n\n\
         [zones.data]\nsensitivity = \"restricted\"\n\n\
         [[flows]]\nfrom = \"dmz\"\nto = \"app\"\nports = [\"443/TCP\"]\nreason = \"{reason}\"\n\n\
         [[flows]]\nfrom = \"app\"\nto = \"data\"\nports = [\"5432/TCP\", \"6379/TCP\"]\nreason = \"PostgreSQL and Redis\"\n"
    );
    std::fs::write(dir.join("segplan.toml"), project).unwrap();
    let mut env = String::from("[environment]\nkind = \"production\"\n\n");
    for c in 0..clusters {
        let _ = write!(
            env,
            "[clusters.c{c:02}]\ncontext = \"c{c:02}\"\npod_cidr = \"10.{c}.0.0/16\"\nnode_cidr = \"172.16.{c}.0/24\"\n\n"
        );
    }
    let zones = ["dmz", "app", "app", "data"];
    for n in 0..namespaces {
        let _ = write!(
            env,
            "[namespaces.ns-{n:04}]\nzone = \"{}\"\nteam = \"team-{}\"\n\n",
            zones[n % zones.len()],
            n % 17
        );
    }
    std::fs::write(dir.join("big.toml"), env).unwrap();
}

//! Render benchmark on a generated topology of 10 clusters x 1,000 namespaces:
//! `cargo bench --bench render`.
//!
//! `whole_render` is what `segplan render --env prod > file` does after loading: plan,
//! templates, parse back and check every document, and write the YAML stream (to a sink).
//! `load_render_write` adds reading and validating the topology: the whole command.
//! Like the binary, the benchmark allocates through mimalloc, configured the same way.

use std::sync::OnceLock;

use segplan::model::Model;
use segplan::render::{RenderOptions, render};

fn model() -> &'static (tempfile::TempDir, Model) {
    static M: OnceLock<(tempfile::TempDir, Model)> = OnceLock::new();
    M.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        segplan::example::write_large(dir.path(), 10, 1000).unwrap();
        let (model, _) = segplan::model::load(dir.path()).expect("generated topology is valid");
        (dir, model)
    })
}

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    segplan::alloc::configure_mimalloc();
    divan::main();
}

#[divan::bench(sample_count = 10)]
fn load_and_validate(b: divan::Bencher) {
    let dir = model().0.path().to_path_buf();
    b.bench(|| segplan::model::load(&dir).unwrap());
}

#[divan::bench(sample_count = 10)]
fn whole_render(b: divan::Bencher) {
    let m = &model().1;
    b.bench(|| {
        let r = render(m, "prod", &RenderOptions::default()).unwrap();
        let mut out = std::io::BufWriter::new(std::io::sink());
        r.write_yaml_stream(&mut out).unwrap();
        r.clusters.len()
    });
}

#[divan::bench(sample_count = 10)]
fn load_render_write(b: divan::Bencher) {
    let dir = model().0.path().to_path_buf();
    b.bench(|| {
        let (m, _) = segplan::model::load(&dir).unwrap();
        let r = render(&m, "prod", &RenderOptions::default()).unwrap();
        let mut out = std::io::BufWriter::new(std::io::sink());
        r.write_yaml_stream(&mut out).unwrap();
        r.clusters.len()
    });
}

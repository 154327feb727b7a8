//! Writes the generated benchmark topology: `cargo run --release --example gen_large -- DIR [CLUSTERS] [NAMESPACES]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: gen_large DIR [CLUSTERS] [NAMESPACES]");
    let clusters = args.next().map_or(10, |s| s.parse().expect("a number"));
    let namespaces = args.next().map_or(1000, |s| s.parse().expect("a number"));
    segplan::example::write_large(std::path::Path::new(&dir), clusters, namespaces)
        .expect("write topology");
}

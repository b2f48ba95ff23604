//! Placeholder until the benchmark program lands (see issue "Foundation").
fn main() {
    println!("dpxattn-bench: not yet implemented");
}

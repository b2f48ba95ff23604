//! Write the golden vectors: `qemu-golden <dir>` writes the `.bin` files and `golden.h`.
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "golden".into()));
    qemu_workload::golden::write_bins(&dir)?;
    std::fs::write(dir.join("golden.h"), qemu_workload::golden::c_header())?;
    eprintln!("qemu-golden: wrote {}", dir.display());
    Ok(())
}

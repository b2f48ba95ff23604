//! Write the golden vectors: `qemu-golden <dir> <machine>` writes the `.bin` files and
//! `golden.h` for that QEMU machine's profile.
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "golden".into()));
    let machine = args.next().unwrap_or_else(|| "lm3s6965evb".into());
    qemu_workload::golden::write_bins(&dir, &machine)?;
    std::fs::write(
        dir.join("golden.h"),
        qemu_workload::golden::c_header(&machine),
    )?;
    eprintln!("qemu-golden: wrote {} for {machine}", dir.display());
    Ok(())
}

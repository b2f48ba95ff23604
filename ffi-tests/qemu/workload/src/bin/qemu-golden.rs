//! Write the golden data: `qemu-golden <dir> <machine>` writes the `.bin` files,
//! `golden_vectors.rs` and `golden.h` for that QEMU machine's profile.
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "golden".into()));
    let machine = args.next().unwrap_or_else(|| "lm3s6965evb".into());
    let r = qemu_workload::golden::write_bins(&dir, &machine).and_then(|()| {
        let h = qemu_workload::golden::c_header(&machine)?;
        std::fs::write(dir.join("golden.h"), h).map_err(|e| e.to_string())
    });
    match r {
        Ok(()) => {
            eprintln!("qemu-golden: wrote {} for {machine}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("qemu-golden: {e}");
            ExitCode::FAILURE
        }
    }
}

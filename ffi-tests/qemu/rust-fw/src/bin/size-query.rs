//! Size probe "query only": open the host-built image in flash and answer one query;
//! exit 0 iff the output equals the host's bit for bit. No printing (no `core::fmt`).
#![no_std]
#![no_main]

use dpxattn::AlignedBuf;
use qemu_fw::data;
use qemu_workload::{self as wl, Attn, FLASH};

static mut QSCRATCH: AlignedBuf<{ qemu_fw::PROFILE.qscratch_cap }> = AlignedBuf::new();

#[cortex_m_rt::entry]
fn main() -> ! {
    // SAFETY: the only reference to this static.
    let qscratch = unsafe { qemu_fw::static_bytes(&raw mut QSCRATCH) };
    let mut out = [0f32; FLASH.dv];
    let ok = match (
        Attn::open(&data::FLASH_IMAGE.0),
        data::floats(data::FLASH_QUERIES),
        data::floats(data::FLASH_EXPECTED),
    ) {
        (Ok(a), Some(q), Some(e)) => {
            let q = q.get(..FLASH.d).unwrap_or(&[]);
            a.query(q, &mut out, qscratch).is_ok()
                && wl::same_bits(e.get(..FLASH.dv).unwrap_or(&[]), &out)
        }
        _ => false,
    };
    qemu_fw::exit(if ok { 0 } else { qemu_fw::EXIT_CHECK_FAILED })
}

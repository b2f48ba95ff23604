//! Instruction counts of a code region from SysTick under QEMU `-icount shift=N`.
//!
//! With `-icount`, QEMU's virtual clock advances exactly 2^N ns per guest instruction, and
//! SysTick (clocked from the core clock) counts that virtual time, so a tick count is a
//! deterministic function of the number of executed instructions. DWT CYCCNT is not
//! modelled by QEMU (reads 0), and semihosting clocks read host time.
//!
//! SysTick is a 24-bit down-counter; regions longer than 2^24 ticks (≈1.3 M instructions
//! on lm3s6965evb at shift=10) are handled by counting wraps in the SysTick exception, so
//! a full build can be measured at full resolution. Each wrap adds the handler (measured:
//! 2–13 instructions per wrap on the three machines, i.e. < 0.002 % of the region) to the
//! count of the region it lands in.
//!
//! The ticks-per-instruction ratio is not hard-coded (it depends on the machine's clock):
//! [`calibrate`] measures loops of known length ([`spin`]: exactly 2 instructions per
//! iteration) and then checks itself on a third loop.

use core::hint::black_box;
use core::sync::atomic::{AtomicU32, Ordering, compiler_fence};

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;

/// SysTick reload value: the full 24-bit range, so the period is 2^24 ticks.
const RELOAD: u32 = 0x00FF_FFFF;

/// SysTick wraps seen so far (written only by the SysTick exception).
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[cortex_m_rt::exception]
fn SysTick() {
    // Single writer (this handler), so load + store is race-free; thumbv6m has no
    // atomic read-modify-write.
    WRAPS.store(
        WRAPS.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// Start SysTick on the core clock with its wrap interrupt enabled.
pub fn start(syst: &mut SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Ticks since [`start`]. Re-reads the wrap count so that a wrap between the two reads
/// cannot be missed or double counted.
#[inline(always)]
fn now() -> u64 {
    loop {
        let w0 = WRAPS.load(Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
        let cvr = SYST::get_current();
        compiler_fence(Ordering::SeqCst);
        let w1 = WRAPS.load(Ordering::Relaxed);
        if w0 == w1 {
            return (u64::from(w0) << 24) + u64::from(RELOAD - (cvr & RELOAD));
        }
    }
}

/// SysTick ticks spent in `f` (plus a constant overhead removed by [`Calibration`]).
/// `inline(never)` and the fences keep LTO from moving work across the two reads.
#[inline(never)]
pub fn ticks<R>(f: impl FnOnce() -> R) -> (u64, R) {
    compiler_fence(Ordering::SeqCst);
    let t0 = now();
    compiler_fence(Ordering::SeqCst);
    let r = black_box(f());
    compiler_fence(Ordering::SeqCst);
    let t1 = now();
    compiler_fence(Ordering::SeqCst);
    (t1.wrapping_sub(t0), r)
}

/// Exactly `2·n` instructions in the loop (`subs` + `bne`), plus a constant call overhead.
#[inline(never)]
pub fn spin(n: u32) {
    // SAFETY: a register-only countdown loop; touches no memory and no stack.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, #1",
            "bne 2b",
            inout(reg) n => _,
            options(nomem, nostack)
        );
    }
}

/// Instructions of the calibration span: `spin(CAL_HI) − spin(CAL_LO)` = 2·(HI − LO).
const CAL_LO: u32 = 1_000;
const CAL_HI: u32 = 101_000;
const CAL_INSNS: u64 = 2 * (CAL_HI - CAL_LO) as u64;

/// Result of [`calibrate`]: converts tick counts to instruction counts.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    /// Ticks of an empty region (the fixed cost of [`ticks`]).
    pub empty: u64,
    /// Ticks for [`CAL_INSNS`] instructions.
    pub span_ticks: u64,
    /// Instructions of `spin(n)` beyond its 2·n loop instructions (call, return, setup).
    pub spin_overhead: u64,
    /// The self-check: instructions measured for `spin(CHECK_N)`…
    pub check_measured: u64,
    /// …from this many ticks (long enough to wrap SysTick at least once on every machine)…
    pub check_ticks: u64,
    /// …and what they must be: `2·CHECK_N + spin_overhead`.
    pub check_expected: u64,
}

/// Loop length of the self-check: not a calibration point, and long enough (≈1.47 M
/// instructions) to wrap the 24-bit SysTick at least once at shift=10 on every machine
/// (12.8–25.6 ticks per instruction), so the wrap counting is checked too.
const CHECK_N: u32 = 737_337;

/// Upper bound of the SysTick handler's instructions, allowed per wrap in the self-check.
const HANDLER_MAX: u64 = 16;

impl Calibration {
    /// Ticks per 1000 instructions (for the log).
    pub fn ticks_per_1000(&self) -> u64 {
        (self.span_ticks * 1000 + CAL_INSNS / 2) / CAL_INSNS
    }
    /// Instructions executed in a region measured as `ticks` by [`ticks`], rounded to
    /// nearest.
    pub fn instructions(&self, ticks: u64) -> u64 {
        let net = ticks.saturating_sub(self.empty);
        (net * CAL_INSNS + self.span_ticks / 2) / self.span_ticks.max(1)
    }
    /// The self-check agrees to within one instruction (rounding) plus the wrap handler's
    /// instructions for every wrap that can fall inside the loop.
    pub fn ok(&self) -> bool {
        let wraps = (self.check_ticks >> 24) + 1;
        self.span_ticks > 0
            && self.check_measured.abs_diff(self.check_expected) <= 1 + HANDLER_MAX * wraps
    }
}

/// Measure the empty region and two loops of known length; then check the resulting
/// ratio on a third loop. Requires [`start`].
pub fn calibrate() -> Calibration {
    let (empty, ()) = ticks(|| {});
    let (lo, ()) = ticks(|| spin(black_box(CAL_LO)));
    let (hi, ()) = ticks(|| spin(black_box(CAL_HI)));
    let mut c = Calibration {
        empty,
        span_ticks: hi.saturating_sub(lo),
        spin_overhead: 0,
        check_measured: 0,
        check_ticks: 0,
        check_expected: 0,
    };
    c.spin_overhead = c.instructions(lo).saturating_sub(2 * u64::from(CAL_LO));
    let (chk, ()) = ticks(|| spin(black_box(CHECK_N)));
    c.check_measured = c.instructions(chk);
    c.check_ticks = chk;
    c.check_expected = 2 * u64::from(CHECK_N) + c.spin_overhead;
    c
}

//! Text formats of the compat profiles: Java `Double.toString`, the V3
//! timestamp, and fixed UTC offsets (`--tz`).
//!
//! Takes numbers and microsecond timestamps; gives the exact strings the Java
//! tool printed. Pure functions, no allocation beyond the output, which is a
//! `String`, bytes, or a [`RowBuf`]: the buffer flow tables write rows into,
//! where a cell costs one bounds check and copies of fixed size.

use super::FlowError;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::ops::Range;
use std::str::FromStr;

/// Append `x` as Java's `Double.toString` prints it: shortest round-trip
/// digits, plain notation for 1e-3 <= |x| < 1e7 (always with a fractional
/// part, `714.0`), otherwise computerized scientific notation (`4.4964004E7`,
/// `1.0E-4`); `NaN`, `Infinity`, `-Infinity`, `-0.0`.
///
/// The digits come from `zmij` (shortest round-trip, closest to the value),
/// laid out again the Java way; integral values below 1e7 take an `itoa`
/// fast path.
pub fn java_double(x: f64, out: &mut String) {
    java_double_to(x, out);
}

/// [`java_double`] appended to bytes.
#[inline]
pub fn java_double_bytes(x: f64, out: &mut Vec<u8>) {
    java_double_to(x, out);
}

/// Text output of the formatters: a `String` or bytes (ASCII only).
pub trait Out {
    /// Bytes written so far.
    fn written(&self) -> usize;
    fn put(&mut self, s: &str);
    /// One ASCII byte.
    fn put_byte(&mut self, b: u8);
    fn put_zeros(&mut self, n: usize);
    /// The first `len` bytes of `b` (ASCII, `len` <= 16).
    fn put_fixed(&mut self, b: &[u8; 16], len: usize);
}

impl Out for String {
    fn written(&self) -> usize {
        self.len()
    }

    fn put(&mut self, s: &str) {
        self.push_str(s);
    }

    fn put_byte(&mut self, b: u8) {
        debug_assert!(b.is_ascii());
        self.push(char::from(b));
    }

    fn put_zeros(&mut self, n: usize) {
        self.extend(std::iter::repeat_n('0', n));
    }

    fn put_fixed(&mut self, b: &[u8; 16], len: usize) {
        let text = b.get(..len).and_then(|t| std::str::from_utf8(t).ok());
        debug_assert!(text.is_some_and(|t| t.is_ascii()));
        self.push_str(text.unwrap_or_default());
    }
}

impl Out for Vec<u8> {
    fn written(&self) -> usize {
        self.len()
    }

    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }

    fn put_byte(&mut self, b: u8) {
        self.push(b);
    }

    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, b'0');
    }

    #[inline]
    fn put_fixed(&mut self, b: &[u8; 16], len: usize) {
        // A copy of fixed size (two moves, no call), then the tail dropped.
        let at = self.len();
        self.extend_from_slice(b);
        self.truncate(at + len.min(16));
    }
}

/// Bytes a cell may write with a single bounds check: every number, and
/// most addresses and timestamps.
const CELL: usize = 32;

/// The bytes of a row being written: a zero-filled buffer and a write
/// position, so that a cell of up to [`CELL`] bytes costs one bounds check
/// and copies of fixed size (no capacity check per byte, no `memcpy` call);
/// longer texts grow the buffer.
#[derive(Debug, Default)]
pub struct RowBuf {
    buf: Vec<u8>,
    pos: usize,
}

impl RowBuf {
    /// A buffer with room for `n` bytes before it grows.
    pub fn with_capacity(n: usize) -> RowBuf {
        RowBuf {
            buf: vec![0; n.max(2 * CELL)],
            pos: 0,
        }
    }

    /// Bytes written.
    pub fn len(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        self.buf.get(..self.pos).unwrap_or_default()
    }

    pub fn clear(&mut self) {
        self.pos = 0;
    }

    /// The rest of the buffer, at least `n` bytes of it.
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.buf.len() - self.pos < n {
            self.grow(n);
        }
        &mut self.buf[self.pos..]
    }

    #[cold]
    fn grow(&mut self, n: usize) {
        let want = (2 * self.buf.len()).max(self.pos + n).max(2 * CELL);
        self.buf.resize(want, 0);
    }

    #[inline(always)]
    pub fn push(&mut self, b: u8) {
        self.room(1)[0] = b;
        self.pos += 1;
    }

    #[inline(always)]
    pub fn extend_from_slice(&mut self, s: &[u8]) {
        let n = s.len();
        if n <= CELL {
            copy_short(self.room(CELL), s);
        } else {
            self.room(n)[..n].copy_from_slice(s);
        }
        self.pos += n;
    }

    /// Append a copy of bytes already written.
    pub fn extend_from_within(&mut self, r: Range<usize>) {
        let r = r.start.min(self.pos)..r.end.min(self.pos);
        let n = r.len();
        self.room(n);
        self.buf.copy_within(r, self.pos);
        self.pos += n;
    }

    /// Overwrite the byte at `at` (< `len`).
    pub fn set(&mut self, at: usize, b: u8) {
        if let Some(x) = self.buf.get_mut(at.min(self.pos)) {
            *x = b;
        }
    }

    /// Insert `s` at `at` (<= `len`), moving what follows.
    pub fn insert(&mut self, at: usize, s: &[u8]) {
        let at = at.min(self.pos);
        let n = s.len();
        self.room(n);
        self.buf.copy_within(at..self.pos, at + n);
        self.buf[at..at + n].copy_from_slice(s);
        self.pos += n;
    }

    /// Drop the bytes after the first `n`.
    pub fn truncate(&mut self, n: usize) {
        self.pos = self.pos.min(n);
    }
}

/// Copy `s` (at most [`CELL`] bytes) to the start of `d` (at least
/// [`CELL`] bytes): two copies of fixed size that may overlap.
#[inline(always)]
fn copy_short(d: &mut [u8], s: &[u8]) {
    let n = s.len();
    if n >= 16 {
        d[..16].copy_from_slice(&s[..16]);
        d[n - 16..n].copy_from_slice(&s[n - 16..]);
    } else if n >= 8 {
        d[..8].copy_from_slice(&s[..8]);
        d[n - 8..n].copy_from_slice(&s[n - 8..]);
    } else if n >= 4 {
        d[..4].copy_from_slice(&s[..4]);
        d[n - 4..n].copy_from_slice(&s[n - 4..]);
    } else if n > 0 {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

impl Out for RowBuf {
    fn written(&self) -> usize {
        self.pos
    }

    #[inline(always)]
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }

    #[inline(always)]
    fn put_byte(&mut self, b: u8) {
        self.push(b);
    }

    fn put_zeros(&mut self, n: usize) {
        self.room(n)[..n].fill(b'0');
        self.pos += n;
    }

    #[inline(always)]
    fn put_fixed(&mut self, b: &[u8; 16], len: usize) {
        self.room(16)[..16].copy_from_slice(b);
        self.pos += len.min(16);
    }
}

/// "00" to "99": the two digits of every number below 100.
const PAIRS: [u8; 200] = {
    let mut t = [0; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// `x` < 10^8 in decimal, with ".0" after it: the text is `t[at..end]`
/// (`end` = 10, or 8 without the ".0"), at least one digit. No loop and
/// no branch on the digits; the leading zeros are only skipped.
#[inline(always)]
fn digits8(x: u32) -> ([u8; 24], usize) {
    let x = x.min(99_999_999);
    let (hi, lo) = ((x / 10_000) as usize, (x % 10_000) as usize);
    let mut t = [0; 24];
    for (i, p) in [hi / 100, hi % 100, lo / 100, lo % 100]
        .into_iter()
        .enumerate()
    {
        t[2 * i] = PAIRS[2 * p];
        t[2 * i + 1] = PAIRS[2 * p + 1];
    }
    t[8] = b'.';
    t[9] = b'0';
    // Leading '0' digits are zero bytes once '0' is taken from each: count
    // them from the top of the eight digits read as one big-endian word,
    // keeping the last digit.
    let mut word = [0; 8];
    word.copy_from_slice(&t[..8]);
    let zeros = (u64::from_be_bytes(word) - 0x3030_3030_3030_3030).leading_zeros() / 8;
    (t, (zeros as usize).min(7))
}

/// Append `t[at..end]` (`end` - `at` <= 16).
#[inline(always)]
fn put_digits(out: &mut impl Out, t: &[u8; 24], at: usize, end: usize) {
    let at = at.min(8);
    if let Some(b) = t
        .get(at..at + 16)
        .and_then(|b| <&[u8; 16]>::try_from(b).ok())
    {
        out.put_fixed(b, end - at);
    }
}

/// Append `x` in decimal (below 10^8 without the formatter). One digit
/// (most counters of a row) inline.
#[inline(always)]
pub fn put_u64(out: &mut impl Out, x: u64) {
    if x < 10 {
        out.put_byte(b'0' + x as u8);
    } else {
        put_u64_long(out, x);
    }
}

/// [`put_u64`] of 10 and more.
#[inline(never)]
fn put_u64_long(out: &mut impl Out, x: u64) {
    if x < 100_000_000 {
        let (t, at) = digits8(x as u32);
        put_digits(out, &t, at, 8);
    } else {
        out.put(itoa::Buffer::new().format(x));
    }
}

/// Append `x` in decimal (a sign first).
#[inline(always)]
pub fn put_i64(out: &mut impl Out, x: i64) {
    if x < 0 {
        out.put_byte(b'-');
    }
    put_u64(out, x.unsigned_abs());
}

/// Append what `x` displays, at most 40 bytes (an IPv6 address, a number),
/// through a stack buffer.
fn put_display(s: &mut impl Out, x: impl std::fmt::Display) {
    let mut t = StackBuf::default();
    let _ = write!(t, "{x}");
    s.put(t.as_str());
}

/// Append a number below 1000 in decimal (an octet) without the formatter.
fn put_small(out: &mut impl Out, x: u32) {
    debug_assert!(x < 1000);
    if x >= 100 {
        out.put_byte(b'0' + (x / 100) as u8);
    }
    if x >= 10 {
        out.put_byte(b'0' + (x / 10 % 10) as u8);
    }
    out.put_byte(b'0' + (x % 10) as u8);
}

#[inline(always)]
pub(crate) fn java_double_to(x: f64, out: &mut impl Out) {
    java_double_then::<false>(x, out);
}

/// [`java_double`] and, with `COMMA`, the comma after a CSV cell (written
/// in the same copy where the text is short).
#[inline(always)]
pub(crate) fn java_double_then<const COMMA: bool>(x: f64, out: &mut impl Out) {
    let a = x.abs();
    // Integral below 1e7 (< 2^52), most cells of a row: adding and removing
    // 2^52 rounds to an integer, and gives `a` back exactly when it is one.
    // False for NaN.
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    if (1.0..1e7).contains(&a) && (a + TWO_52) - TWO_52 == a {
        if x < 0.0 {
            out.put_byte(b'-');
        }
        let (mut t, at) = digits8(a as u32);
        t[10] = b',';
        put_digits(out, &t, at, 10 + usize::from(COMMA));
    } else if x.to_bits() == 0 {
        out.put_fixed(b"0.0,\0\0\0\0\0\0\0\0\0\0\0\0", 3 + usize::from(COMMA));
    } else {
        java_double_fraction(x, out);
        if COMMA {
            out.put_byte(b',');
        }
    }
}

/// [`java_double`] of a number that is not an integer in [1, 1e7).
#[inline(never)]
fn java_double_fraction(x: f64, out: &mut impl Out) {
    let a = x.abs();
    // The common case first: plain notation. Also false for NaN.
    if (1e-3..1e7).contains(&a) {
        let mut digits = zmij::Buffer::new();
        let s = digits.format_finite(a);
        if !may_tie(a, s) {
            // In this range zmij writes Java's plain layout: `12.34`, `0.001234`.
            if x < 0.0 {
                out.put_byte(b'-');
            }
            out.put(s);
            return;
        }
    }
    java_double_laid_out(x, out);
}

/// [`java_double`] of the rest: NaN, infinities, zeros, scientific
/// notation, and ties (digits laid out again).
fn java_double_laid_out(x: f64, out: &mut impl Out) {
    if x.is_nan() {
        out.put("NaN");
        return;
    }
    if x.is_infinite() {
        out.put(if x > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if x.is_sign_negative() {
        out.put("-");
    }
    let a = x.abs();
    if a == 0.0 {
        out.put("0.0");
        return;
    }
    // zmij gives ryu's digits (shortest, closest, ties to even) about twice
    // as fast; only its exponent is written `e+16` where ryu writes `e16`.
    let mut digits_buf = zmij::Buffer::new();
    let s = digits_buf.format_finite(a);
    let tie = may_tie(a, s);
    let (digits, exp) = if tie {
        // Two shortest candidates equally close: zmij keeps the even one,
        // Rust's formatter (and so our reference output) rounds half up.
        let mut sci = StackBuf::default();
        let _ = write!(sci, "{a:e}");
        shortest_digits(sci.as_str())
    } else {
        shortest_digits(s)
    };
    let digits = digits.as_str();
    if (1e-3..1e7).contains(&a) {
        if exp >= 0 {
            // `exp + 1` (<= 7) digits go before the point.
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.put(digits);
                out.put_zeros(int_len - digits.len());
                out.put(".0");
            } else {
                out.put(&digits[..int_len]);
                out.put(".");
                out.put(&digits[int_len..]);
            }
        } else {
            out.put("0.");
            out.put_zeros((-exp - 1) as usize);
            out.put(digits);
        }
    } else {
        out.put(&digits[..1]);
        out.put(".");
        out.put(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.put("E");
        out.put(itoa::Buffer::new().format(exp));
    }
}

/// The number of significant digits of a positive number as `zmij` prints it
/// (leading and trailing zeros, the point and the exponent not counted).
fn significant_len(s: &str) -> usize {
    let mantissa = s
        .as_bytes()
        .split(|&b| b == b'e')
        .next()
        .unwrap_or_default();
    let mut first = None;
    let mut last = 0;
    for (i, &b) in mantissa.iter().enumerate() {
        if b.is_ascii_digit() && b != b'0' {
            first.get_or_insert(i);
            last = i;
        }
    }
    match first {
        Some(f) => mantissa[f..=last]
            .iter()
            .filter(|b| b.is_ascii_digit())
            .count(),
        None => 0,
    }
}

/// The significant digits of a positive finite number as `zmij` prints it
/// (`123.45`, `1e-7`, `1.5e+16`, `0.001`), without leading or trailing zeros,
/// and the decimal exponent of the first one: `1.2345e2` -> ("12345", 2).
fn shortest_digits(s: &str) -> (StackBuf, i32) {
    let (mantissa, e) = match s.bytes().rposition(|b| b == b'e') {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (s, 0),
    };
    let mut digits = StackBuf::default();
    // Position of the decimal point after the first digit of `mantissa`.
    let mut point = e;
    let mut seen_point = false;
    for b in mantissa.bytes() {
        match b {
            b'.' => seen_point = true,
            b'0' if digits.len == 0 => {
                // A leading zero: one place less before the point.
                point -= 1;
            }
            _ => {
                if !seen_point && digits.len > 0 {
                    point += 1;
                }
                digits.push(b);
            }
        }
    }
    // Integer digits after the first significant one were counted in `point`;
    // a leading "0." already moved it below zero.
    while digits.len > 1 && digits.bytes[digits.len - 1] == b'0' {
        digits.len -= 1;
    }
    (digits, point)
}

/// True when positive finite `a`, which zmij printed as `s`, may lie exactly
/// halfway between two decimals of `n` significant digits (zmij's count),
/// where the shortest-digit algorithms differ in how they break the tie.
/// That needs `n` >= 16 (below, two such decimals are more than an ulp
/// apart; `s` is then shorter than 17) and an exact decimal expansion of
/// `n + 1` digits: `a = m / 2^j` with odd `m` has exactly the digits of
/// `m * 5^j`. Integers of 2^53 and more are simply reported.
#[inline]
fn may_tie(a: f64, s: &str) -> bool {
    // Shorter texts, and values with more than 27 binary places after the
    // point (most means and deviations), without a call.
    s.len() >= 17 && few_binary_places(a) && may_tie_long(a, s)
}

/// True unless positive finite `a` = `m / 2^j` (odd `m`) has `j` > 27.
#[inline]
fn few_binary_places(a: f64) -> bool {
    // `m` = 0 only for zero: no tie.
    odd_significand(a).is_some_and(|(_, q)| q >= -27)
}

/// `a` = `m * 2^q` with odd `m` (`None` for zero), `a` positive and finite.
#[inline]
fn odd_significand(a: f64) -> Option<(u64, i32)> {
    let bits = a.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let m = (bits & ((1 << 52) - 1)) | (u64::from(biased != 0) << 52);
    let tz = m.trailing_zeros();
    (m != 0).then(|| (m >> tz, biased.max(1) - 1075 + tz as i32))
}

/// [`may_tie`] of a number whose text has 17 characters or more.
fn may_tie_long(a: f64, s: &str) -> bool {
    let Some((m, q)) = odd_significand(a) else {
        return false;
    };
    if q >= 0 {
        return true;
    }
    let j = q.unsigned_abs();
    // m * 5^j >= 5^28 > 10^19 has more than n + 1 <= 18 digits.
    if j > 27 {
        return false;
    }
    match m.checked_mul(5u64.pow(j)) {
        Some(p) if p < 1_000_000_000_000_000_000 => {
            p.checked_ilog10().map_or(1, |l| l as usize + 1) == significant_len(s) + 1
        }
        _ => false,
    }
}

/// A fixed buffer for the digits of one number (an f64 has at most 17
/// significant digits; the integer part of zmij's plain output at most 17).
struct StackBuf {
    bytes: [u8; 40],
    len: usize,
}

impl Default for StackBuf {
    fn default() -> StackBuf {
        StackBuf {
            bytes: [0; 40],
            len: 0,
        }
    }
}

impl StackBuf {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }

    fn push(&mut self, b: u8) {
        if self.len < self.bytes.len() {
            self.bytes[self.len] = b;
            self.len += 1;
        }
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.bytes.len() {
            return Err(std::fmt::Error);
        }
        self.bytes[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// [`java_double`] into a new string.
pub fn java_double_string(x: f64) -> String {
    let mut s = String::new();
    java_double(x, &mut s);
    s
}

/// A fixed offset from UTC, in seconds east (`--tz -03:00` is -10800).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TzOffset(i32);

impl TzOffset {
    pub const UTC: TzOffset = TzOffset(0);

    /// Offset in seconds east of UTC; `None` unless |secs| < 24 h.
    pub fn from_seconds(secs: i32) -> Option<TzOffset> {
        (secs.abs() < 86_400).then_some(TzOffset(secs))
    }

    pub fn seconds(self) -> i32 {
        self.0
    }
}

impl FromStr for TzOffset {
    type Err = FlowError;

    /// `UTC`, `Z`, or `±HH:MM` (also `±HHMM`, `±HH`).
    fn from_str(s: &str) -> Result<TzOffset, FlowError> {
        let bad = || FlowError::BadTimezone {
            given: s.to_string(),
        };
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(TzOffset::UTC);
        }
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return Err(bad()),
        };
        let (hh, mm) = match rest.split_once(':') {
            Some((h, m)) => (h, m),
            None if rest.len() == 4 => rest.split_at(2),
            None => (rest, "00"),
        };
        let all_digits = |x: &str| x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(hh) || !all_digits(mm) {
            return Err(bad());
        }
        let h: i32 = hh.parse().map_err(|_| bad())?;
        let m: i32 = mm.parse().map_err(|_| bad())?;
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(TzOffset(sign * (h * 3600 + m * 60)))
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian): days
/// since 1970-01-01 -> (year, month, day).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The V3 (P17/P18) `Timestamp` cell: Java `SimpleDateFormat("dd/MM/yyyy
/// hh:mm:ss")` of `ts_us / 1000` milliseconds in a fixed zone: 12-hour clock
/// without AM/PM (`hh`: 00:xx prints as 12:xx), sub-seconds truncated.
pub fn v3_timestamp(ts_us: i64, tz: TzOffset) -> String {
    // Java: `flowStartTime / 1000L` truncates toward zero; `Date` then floors.
    let ms = ts_us / 1000;
    let secs = ms.div_euclid(1000) + i64::from(tz.seconds());
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let h24 = sod / 3600;
    let h12 = if h24 % 12 == 0 { 12 } else { h24 % 12 };
    let mut s = String::with_capacity(19);
    push_2(&mut s, i64::from(d));
    s.push('/');
    push_2(&mut s, i64::from(mo));
    s.push('/');
    push_year(&mut s, y);
    s.push(' ');
    push_2(&mut s, h12);
    s.push(':');
    push_2(&mut s, (sod / 60) % 60);
    s.push(':');
    push_2(&mut s, sod % 60);
    s
}

/// `{:02}` of a non-negative number below 100.
fn push_2(s: &mut impl Out, x: i64) {
    if (0..100).contains(&x) {
        s.put_byte(b'0' + (x / 10) as u8);
        s.put_byte(b'0' + (x % 10) as u8);
    } else {
        put_display(s, format_args!("{x:02}"));
    }
}

/// `{:04}` of a year.
fn push_year(s: &mut impl Out, y: i64) {
    if (1000..10_000).contains(&y) {
        put_i64(s, y);
    } else {
        put_display(s, format_args!("{y:04}"));
    }
}

/// The PE `Timestamp` cell: UTC `yyyy-MM-dd HH:mm:ss` plus the fraction as
/// Java's `Instant.toString` prints it (none when zero, else 3 digits when
/// whole milliseconds, else 6).
pub fn pe_timestamp(ts_us: i64) -> String {
    let mut s = String::with_capacity(26);
    push_pe_timestamp(&mut s, ts_us);
    s
}

/// Append the [`pe_timestamp`] text.
pub fn push_pe_timestamp(s: &mut impl Out, ts_us: i64) {
    let secs = ts_us.div_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    if !(1000..10_000).contains(&y) {
        push_pe_timestamp_any_year(s, ts_us);
        return;
    }
    // Four-digit years (every capture): the text has a fixed layout, laid
    // out from digit pairs and written in two copies.
    let sod = secs.rem_euclid(86_400) as usize;
    let frac = ts_us.rem_euclid(1_000_000) as usize;
    let mut t = *b"0000-00-00 00:00:00.000000\0\0\0\0\0\0";
    let mut pair = |at: usize, v: usize| {
        t[at] = PAIRS[2 * v];
        t[at + 1] = PAIRS[2 * v + 1];
    };
    let y = y as usize;
    pair(0, y / 100);
    pair(2, y % 100);
    pair(5, mo as usize);
    pair(8, d as usize);
    pair(11, sod / 3600);
    pair(14, sod / 60 % 60);
    pair(17, sod % 60);
    pair(20, frac / 10_000);
    pair(22, frac / 100 % 100);
    pair(24, frac % 100);
    let len = match frac {
        0 => 19,
        f if f % 1000 == 0 => 23,
        _ => 26,
    };
    let mut first = [0; 16];
    first.copy_from_slice(&t[..16]);
    let mut rest = [0; 16];
    rest.copy_from_slice(&t[16..]);
    s.put_fixed(&first, 16);
    s.put_fixed(&rest, len - 16);
}

/// [`push_pe_timestamp`] of any year.
fn push_pe_timestamp_any_year(s: &mut impl Out, ts_us: i64) {
    let secs = ts_us.div_euclid(1_000_000);
    let frac = ts_us.rem_euclid(1_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    push_year(s, y);
    s.put_byte(b'-');
    push_2(s, i64::from(mo));
    s.put_byte(b'-');
    push_2(s, i64::from(d));
    s.put_byte(b' ');
    push_2(s, sod / 3600);
    s.put_byte(b':');
    push_2(s, (sod / 60) % 60);
    s.put_byte(b':');
    push_2(s, sod % 60);
    if frac != 0 {
        let (digits, width) = if frac % 1000 == 0 {
            (frac / 1000, 3)
        } else {
            (frac, 6)
        };
        s.put_byte(b'.');
        let mut buf = itoa::Buffer::new();
        let text = buf.format(digits);
        s.put_zeros(width - text.len());
        s.put(text);
    }
}

/// Every octet in decimal with a dot after it, padded to four bytes, and
/// the length with the dot.
const OCTETS: [([u8; 4], u8); 256] = {
    let mut t = [([0; 4], 0); 256];
    let mut i = 0;
    while i < 256 {
        let (h, d, u) = ((i / 100) as u8, (i / 10 % 10) as u8, (i % 10) as u8);
        t[i] = if i >= 100 {
            ([b'0' + h, b'0' + d, b'0' + u, b'.'], 4)
        } else if i >= 10 {
            ([b'0' + d, b'0' + u, b'.', 0], 3)
        } else {
            ([b'0' + u, b'.', 0, 0], 2)
        };
        i += 1;
    }
    t
};

/// Append an address as `Display` writes it (IPv4 without the formatter).
pub fn push_ip(s: &mut impl Out, ip: IpAddr) {
    match ip {
        IpAddr::V4(v) => {
            // Each octet's digits and a dot, four bytes at a time; the text
            // (at most 15 bytes) goes out in one copy, without the last dot.
            let mut t = [0; 20];
            let mut n = 0;
            for o in v.octets() {
                let (text, len) = OCTETS[usize::from(o)];
                t[n..n + 4].copy_from_slice(&text);
                n += usize::from(len);
            }
            if let Some(b) = t.first_chunk::<16>() {
                s.put_fixed(b, n - 1);
            }
        }
        IpAddr::V6(v) => put_display(s, v),
    }
}

/// Append the `Flow ID` text `A-B-portA-portB-protocol`; gives where in
/// `s` the texts of `a` and `b` are (a row copies them into its address
/// cells).
pub fn push_flow_id(
    s: &mut impl Out,
    a: IpAddr,
    b: IpAddr,
    a_port: u16,
    b_port: u16,
    protocol: u8,
) -> (Range<usize>, Range<usize>) {
    let a_at = s.written();
    push_ip(s, a);
    let a_at = a_at..s.written();
    s.put_byte(b'-');
    let b_at = s.written();
    push_ip(s, b);
    let b_at = b_at..s.written();
    s.put_byte(b'-');
    put_u64(s, u64::from(a_port));
    s.put_byte(b'-');
    put_u64(s, u64::from(b_port));
    s.put_byte(b'-');
    put_small(s, u32::from(protocol));
    (a_at, b_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`java_double_string`], checked against the byte output.
    fn java_double_both(x: f64) -> String {
        let s = java_double_string(x);
        let mut b = Vec::new();
        java_double_bytes(x, &mut b);
        assert_eq!(String::from_utf8(b).unwrap(), s, "bytes path of {x:e}");
        s
    }

    #[test]
    fn java_doubles_from_the_reference_csvs() {
        // Every string below appears in a CSV written by the Java tool.
        for (x, s) in [
            (714.0, "714.0"),
            (3.7187499999999996, "3.7187499999999996"),
            (714.0 / 192.0, "3.71875"),
            (0.0, "0.0"),
            (44_964_004.0, "4.4964004E7"),
            (20_824_295.0, "2.0824295E7"),
            (1.0607713537046159E7, "1.0607713537046159E7"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (1.0, "1.0"),
            (1.1111111111111112, "1.1111111111111112"),
        ] {
            assert_eq!(java_double_both(x), s, "{x:?}");
        }
    }

    /// The implementation before the zmij digits: Rust's `{:e}` (shortest
    /// round-trip digits too), laid out the Java way.
    fn java_double_via_fmt(x: f64) -> String {
        let mut out = String::new();
        if x.is_nan() {
            return "NaN".into();
        }
        if x.is_infinite() {
            return if x > 0.0 { "Infinity" } else { "-Infinity" }.into();
        }
        if x.is_sign_negative() {
            out.push('-');
        }
        let a = x.abs();
        if a == 0.0 {
            out.push_str("0.0");
            return out;
        }
        let sci = format!("{a:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        let (first, rest) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (1e-3..1e7).contains(&a) {
            if exp >= 0 {
                let int_extra = exp as usize;
                out.push_str(first);
                if rest.len() <= int_extra {
                    out.push_str(rest);
                    out.extend(std::iter::repeat_n('0', int_extra - rest.len()));
                    out.push_str(".0");
                } else {
                    out.push_str(&rest[..int_extra]);
                    out.push('.');
                    out.push_str(&rest[int_extra..]);
                }
            } else {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
                out.push_str(first);
                out.push_str(rest);
            }
        } else {
            out.push_str(first);
            out.push('.');
            out.push_str(if rest.is_empty() { "0" } else { rest });
            let _ = write!(out, "E{exp}");
        }
        out
    }

    #[test]
    fn digits_layout_matches_the_fmt_layout_on_edge_values() {
        for x in [
            1e-3,
            9.999e-4,
            1e7,
            9_999_999.5,
            0.1,
            0.3,
            1e16,
            1.5e16,
            1e-7,
            123.456,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            1e22,
            1e23,
            2.0f64.powi(63),
            0.5,
            100.25,
            1234567.125,
            1e-5,
            1.0e-4,
            12345678.9,
            4.35e-3,
            6.401441328625522E14,
            467168781.0 / 4096.0,
            2.0f64.powi(60) + 2048.0,
        ] {
            assert_eq!(java_double_both(x), java_double_via_fmt(x), "{x:e}");
            assert_eq!(java_double_both(-x), java_double_via_fmt(-x), "{x:e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn digits_layout_matches_the_fmt_layout(bits in proptest::num::u64::ANY) {
            let x = f64::from_bits(bits);
            proptest::prop_assert_eq!(java_double_both(x), java_double_via_fmt(x));
        }

        #[test]
        fn digits_layout_matches_the_fmt_layout_on_ratios(n in 0u64..1_000_000_000, d in 1u64..100_000) {
            let x = n as f64 / d as f64;
            proptest::prop_assert_eq!(java_double_both(x), java_double_via_fmt(x));
            let y = x * 1e-6;
            proptest::prop_assert_eq!(java_double_both(y), java_double_via_fmt(y));
        }

        #[test]
        fn digits_layout_matches_the_fmt_layout_on_dyadic_values(m in 1u64..(1 << 53), j in 0i32..64) {
            // Exactly halfway cases live here: m / 2^j with short expansions.
            let x = m as f64 / 2f64.powi(j);
            proptest::prop_assert_eq!(java_double_both(x), java_double_via_fmt(x));
            let y = (m >> 20) as f64 * 2f64.powi(j);
            proptest::prop_assert_eq!(java_double_both(y), java_double_via_fmt(y));
        }

        #[test]
        fn java_doubles_round_trip_in_the_right_notation(bits in proptest::num::u64::ANY) {
            let x = f64::from_bits(bits);
            proptest::prop_assume!(x.is_finite());
            let s = java_double_both(x);
            proptest::prop_assert_eq!(s.parse::<f64>().unwrap().to_bits(), x.to_bits(), "{}", s);
            let sci = s.contains('E');
            let a = x.abs();
            proptest::prop_assert_eq!(sci, a != 0.0 && !(1e-3..1e7).contains(&a), "{}", s);
            proptest::prop_assert!(s.contains('.'), "{}", s);
        }

        #[test]
        fn java_doubles_of_integers_and_ratios(n in 0u64..100_000_000, d in 1u64..1000) {
            let x = n as f64 / d as f64;
            let s = java_double_both(x);
            proptest::prop_assert_eq!(s.parse::<f64>().unwrap(), x, "{}", s);
        }
    }

    /// `put_i64` into bytes and into a string, checked against `Display`.
    fn check_int(x: i64) {
        let mut b = b"x".to_vec();
        put_i64(&mut b, x);
        assert_eq!(String::from_utf8(b).unwrap(), format!("x{x}"));
        let mut s = String::from("y");
        put_i64(&mut s, x);
        assert_eq!(s, format!("y{x}"));
    }

    #[test]
    fn integers_print_like_display_at_every_digit_count() {
        for p in (0..19).map(|e| 10i64.pow(e)) {
            for x in [p - 1, p, p + 1, 2 * p - 1, 5 * p] {
                check_int(x);
                check_int(-x);
            }
        }
        for x in [0, i64::MAX, i64::MIN, 99_999_999, 100_000_000] {
            check_int(x);
        }
    }

    #[test]
    fn short_texts_append_exactly() {
        // Every length around the fixed-size copies, onto every prefix
        // length, and past the buffer's first size (it grows).
        let src: String = (0..100).map(|i| char::from(b'a' + i % 26)).collect();
        for pre in [0, 1, 2, 31, 32, 33, 63] {
            for n in 0..=100 {
                let mut v = RowBuf::with_capacity(64);
                v.put(&"#".repeat(pre));
                v.put(&src[..n]);
                v.put_byte(b'|');
                v.put_fixed(b"0123456789abcdef", 3);
                let want = format!("{}{}|012", "#".repeat(pre), &src[..n]);
                assert_eq!(v.as_slice(), want.as_bytes());
                assert_eq!(v.written(), want.len());
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn integers_print_like_display(x in proptest::num::i64::ANY, small in 0i64..200_000_000) {
            check_int(x);
            check_int(small);
        }
    }

    #[test]
    fn java_double_notation_boundaries() {
        // Java switches to E notation below 1e-3 and from 1e7 on.
        assert_eq!(java_double_both(0.001), "0.001");
        assert_eq!(java_double_both(0.0001), "1.0E-4");
        assert_eq!(java_double_both(0.00012345), "1.2345E-4");
        assert_eq!(java_double_both(9_999_999.0), "9999999.0");
        assert_eq!(java_double_both(10_000_000.0), "1.0E7");
        assert_eq!(java_double_both(123.0), "123.0");
        assert_eq!(java_double_both(1e300), "1.0E300");
        assert_eq!(java_double_both(-0.5), "-0.5");
        assert_eq!(java_double_both(-0.0), "-0.0");
        assert_eq!(java_double_both(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(java_double_both(0.012), "0.012");
    }

    #[test]
    fn v3_timestamps_are_12_hour_without_marker() {
        // 2015-03-31T11:32:22.999Z at -03:00 (the reference host).
        let tz: TzOffset = "-03:00".parse().unwrap();
        let t = 1_427_801_542_999_999;
        assert_eq!(v3_timestamp(t, tz), "31/03/2015 08:32:22");
        // 15:30 local prints as 03:30; midnight as 12.
        assert_eq!(
            v3_timestamp(1_499_441_400_000_000, TzOffset::UTC),
            "07/07/2017 03:30:00"
        );
        assert_eq!(v3_timestamp(0, TzOffset::UTC), "01/01/1970 12:00:00");
        // Crossing the date line backwards.
        assert_eq!(v3_timestamp(3_600_000_000, tz), "31/12/1969 10:00:00");
    }

    #[test]
    fn pe_timestamps_follow_java_instant_fractions() {
        // 2025-03-11T15:28:45Z = 1741706925.
        let t = 1_741_706_925_000_000;
        assert_eq!(pe_timestamp(t + 648_704), "2025-03-11 15:28:45.648704");
        assert_eq!(pe_timestamp(t + 245_400), "2025-03-11 15:28:45.245400");
        assert_eq!(pe_timestamp(t + 245_000), "2025-03-11 15:28:45.245");
        assert_eq!(pe_timestamp(t), "2025-03-11 15:28:45");
    }

    #[test]
    fn addresses_and_flow_ids_print_like_display() {
        for ip in [
            "0.0.0.0",
            "10.200.2.252",
            "9.99.100.199",
            "255.255.255.255",
            "2001:db8::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:1.2.3.4",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut text = String::new();
            push_ip(&mut text, ip);
            assert_eq!(text, ip.to_string());
            let mut b = Vec::new();
            push_ip(&mut b, ip);
            assert_eq!(b, ip.to_string().into_bytes());
        }
        let (a, b): (IpAddr, IpAddr) =
            ("192.168.10.5".parse().unwrap(), "8.8.8.8".parse().unwrap());
        for (pa, pb, proto) in [(5000, 53, 17), (0, 9, 0), (65535, 10, 255), (99, 100, 58)] {
            let want = format!("{a}-{b}-{pa}-{pb}-{proto}");
            let mut text = String::new();
            push_flow_id(&mut text, a, b, pa, pb, proto);
            assert_eq!(text, want);
            let mut bytes = b"x,".to_vec();
            let (a_at, b_at) = push_flow_id(&mut bytes, a, b, pa, pb, proto);
            assert_eq!(bytes[2..], *want.as_bytes());
            assert_eq!(bytes[a_at], *a.to_string().as_bytes());
            assert_eq!(bytes[b_at], *b.to_string().as_bytes());
        }
        // Every octet value in every place, into a row and a string.
        for o in 0..=255u8 {
            for ip in [
                [o, 0, 0, 0],
                [1, o, 22, 3],
                [100, 9, o, 250],
                [255, 10, 1, o],
            ] {
                let ip = IpAddr::from(ip);
                let mut row = RowBuf::default();
                row.put("x");
                push_ip(&mut row, ip);
                assert_eq!(row.as_slice(), format!("x{ip}").as_bytes());
                let mut text = String::new();
                push_ip(&mut text, ip);
                assert_eq!(text, ip.to_string());
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn timestamps_match_the_formatter(ts in -100_000_000_000_000_000i64..300_000_000_000_000_000, tz in -86_399i32..86_400) {
            let tz = TzOffset::from_seconds(tz).unwrap();
            let ms = ts / 1000;
            let secs = ms.div_euclid(1000) + i64::from(tz.seconds());
            let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            let h24 = sod / 3600;
            let h12 = if h24 % 12 == 0 { 12 } else { h24 % 12 };
            let want = format!("{d:02}/{mo:02}/{y:04} {h12:02}:{:02}:{:02}", (sod / 60) % 60, sod % 60);
            proptest::prop_assert_eq!(v3_timestamp(ts, tz), want);
            let secs = ts.div_euclid(1_000_000);
            let frac = ts.rem_euclid(1_000_000);
            let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
            let sod = secs.rem_euclid(86_400);
            let mut want = format!("{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}", sod / 3600, (sod / 60) % 60, sod % 60);
            if frac != 0 {
                if frac % 1000 == 0 {
                    want.push_str(&format!(".{:03}", frac / 1000));
                } else {
                    want.push_str(&format!(".{frac:06}"));
                }
            }
            let mut bytes = Vec::new();
            push_pe_timestamp(&mut bytes, ts);
            proptest::prop_assert_eq!(String::from_utf8(bytes).unwrap(), want.clone());
            proptest::prop_assert_eq!(pe_timestamp(ts), want);
        }

        /// Whole seconds and milliseconds too (the short fractions), in the
        /// row buffer flow rows are written to, around the four-digit years.
        #[test]
        fn pe_timestamps_of_whole_units_in_the_row_buffer(
            t in -32_000_000_000i64..254_000_000_000,
            unit in proptest::sample::select(vec![1i64, 1000, 1_000_000]),
            sub in 0i64..1_000_000,
        ) {
            let ts = t * 1_000_000 + sub / unit * unit;
            let mut rows = RowBuf::with_capacity(4);
            rows.put_byte(b'x');
            push_pe_timestamp(&mut rows, ts);
            let mut s = String::from("x");
            push_pe_timestamp_any_year(&mut s, ts);
            proptest::prop_assert_eq!(std::str::from_utf8(rows.as_slice()).unwrap(), s);
        }
    }

    #[test]
    fn tz_offsets_parse_and_reject() {
        assert_eq!("-03:00".parse::<TzOffset>().unwrap().seconds(), -10_800);
        assert_eq!("+05:30".parse::<TzOffset>().unwrap().seconds(), 19_800);
        assert_eq!("+0530".parse::<TzOffset>().unwrap().seconds(), 19_800);
        assert_eq!("UTC".parse::<TzOffset>().unwrap(), TzOffset::UTC);
        for bad in ["", "03:00", "+3:00", "+24:00", "+05:60", "-03:0x", "CET"] {
            assert!(bad.parse::<TzOffset>().is_err(), "{bad}");
        }
    }
}

//! BLAKE3 of many short messages at once: one message per SIMD lane.
//!
//! Every row hash is `blake3(row's canonical bytes)`, and a row is a few
//! hundred bytes: one BLAKE3 chunk of a handful of 64-byte blocks. The
//! `blake3` crate is fast on long inputs because it compresses many chunks
//! of the *same* input side by side; a short input gets one block at a time,
//! and hashing was a quarter of a verification's CPU. Here sixteen (AVX-512)
//! or eight (AVX2) rows are compressed side by side instead, lane `l`
//! holding row `l`: each lane has its own block count, block length and
//! flags, so the result is exactly `blake3::hash` of each row (tests compare
//! the two on every length up to two chunks). Rows longer than one chunk
//! (1024 bytes) go to `blake3::hash`.
//!
//! The lanes are the 32-bit words of an AVX-512 or AVX2 register, whichever
//! the CPU has (checked at run time); without either, every row goes to
//! `blake3::hash`.

/// Rows hashed in one call: the AVX-512 width; AVX2 does them in two
/// halves.
pub const LANES: usize = 16;

/// The longest row a lane takes: one BLAKE3 chunk.
pub const CHUNK_LEN: usize = 1024;
const BLOCK_LEN: usize = 64;

const IV: [u32; 8] = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19];
const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const ROOT: u32 = 8;

/// BLAKE3's message word permutation, applied between rounds.
const PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

/// Which message word each of the 16 slots of round `r` reads: the
/// permutation applied `r` times.
const SCHEDULE: [[usize; 16]; 7] = {
    let mut s = [[0usize; 16]; 7];
    let mut i = 0;
    while i < 16 {
        s[0][i] = i;
        i += 1;
    }
    let mut r = 1;
    while r < 7 {
        let mut i = 0;
        while i < 16 {
            s[r][i] = s[r - 1][PERMUTATION[i]];
            i += 1;
        }
        r += 1;
    }
    s
};

/// Blocks per lane (an empty row is one empty block; so is a lane without
/// a row, whose result is dropped).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn block_counts<const N: usize>(rows: &[&[u8]]) -> [i32; N] {
    let mut blocks = [1i32; N];
    for (b, r) in blocks.iter_mut().zip(rows) {
        *b = r.len().div_ceil(BLOCK_LEN).max(1) as i32;
    }
    blocks
}

/// Block `b` of every lane: its bytes (the last block zero-padded, as
/// BLAKE3 pads), its length, and its flags.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct LaneBlocks<'a, const N: usize> {
    bytes: [&'a [u8; BLOCK_LEN]; N],
    len: [i32; N],
    flags: [i32; N],
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const ZEROS: [u8; BLOCK_LEN] = [0; BLOCK_LEN];

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn lane_blocks<'a, const N: usize>(
    rows: &[&'a [u8]],
    blocks: &[i32; N],
    b: i32,
    padded: &'a mut [[u8; BLOCK_LEN]; N],
) -> LaneBlocks<'a, N> {
    let at = b as usize * BLOCK_LEN;
    let mut len = [0i32; N];
    let mut flags = [0i32; N];
    // Lanes without a row, or past their last block, read zeros.
    let mut bytes: [&'a [u8; BLOCK_LEN]; N] = [&ZEROS; N];
    for (l, pad) in padded.iter_mut().enumerate().take(rows.len()) {
        let r = rows[l];
        bytes[l] = match r.get(at..at + BLOCK_LEN) {
            Some(full) => full.try_into().expect("64 bytes"),
            None if at < r.len() => {
                pad[..r.len() - at].copy_from_slice(&r[at..]);
                pad[r.len() - at..].fill(0);
                pad
            }
            None => &ZEROS,
        };
        len[l] = r.len().saturating_sub(at).min(BLOCK_LEN) as i32;
    }
    for (l, f) in flags.iter_mut().enumerate() {
        *f = if b == 0 { CHUNK_START as i32 } else { 0 } | if b + 1 == blocks[l] { (CHUNK_END | ROOT) as i32 } else { 0 };
    }
    LaneBlocks { bytes, len, flags }
}

/// BLAKE3's seven rounds over state `v` and message words `m`, with the
/// lane width's `g`.
macro_rules! rounds {
    ($g:ident, $v:expr, $m:expr) => {
        for s in &SCHEDULE {
            $g($v, 0, 4, 8, 12, $m[s[0]], $m[s[1]]);
            $g($v, 1, 5, 9, 13, $m[s[2]], $m[s[3]]);
            $g($v, 2, 6, 10, 14, $m[s[4]], $m[s[5]]);
            $g($v, 3, 7, 11, 15, $m[s[6]], $m[s[7]]);
            $g($v, 0, 5, 10, 15, $m[s[8]], $m[s[9]]);
            $g($v, 1, 6, 11, 12, $m[s[10]], $m[s[11]]);
            $g($v, 2, 7, 8, 13, $m[s[12]], $m[s[13]]);
            $g($v, 3, 4, 9, 14, $m[s[14]], $m[s[15]]);
        }
    };
}

/// `blake3::hash` of each of `rows` (at most `LANES`) into `out`. Rows of
/// more than one chunk are not for lanes (`DigestBuilder` hashes those as
/// they end); a batch with one is hashed row by row.
pub fn hash_rows(rows: &[&[u8]], out: &mut [[u8; 32]]) {
    assert!(rows.len() <= LANES && out.len() >= rows.len(), "at most {LANES} rows at once");
    match lanes() {
        Some(lanes) if rows.iter().all(|r| r.len() <= CHUNK_LEN) => lanes(rows, out),
        _ => {
            for (r, o) in rows.iter().zip(out.iter_mut()) {
                *o = *blake3::hash(r).as_bytes();
            }
        }
    }
}

/// The hashes of up to `LANES` rows stored back to back in `buf`, row `i`
/// ending at `ends[i]` (how rows are gathered before hashing).
pub fn hash_packed(buf: &[u8], ends: &[usize]) -> [[u8; 32]; LANES] {
    let mut rows: [&[u8]; LANES] = [&[]; LANES];
    let mut start = 0;
    for (slot, &end) in rows.iter_mut().zip(ends) {
        *slot = &buf[start..end];
        start = end;
    }
    let mut hashes = [[0u8; 32]; LANES];
    hash_rows(&rows[..ends.len()], &mut hashes);
    hashes
}

/// Hashes up to `LANES` rows of at most one chunk each.
type Lanes = fn(&[&[u8]], &mut [[u8; 32]]);

/// The widest lane implementation this CPU runs, if any.
fn lanes() -> Option<Lanes> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return Some(avx512_rows);
        }
        if std::is_x86_feature_detected!("avx2") {
            return Some(avx2_rows);
        }
    }
    None
}

#[cfg(target_arch = "x86_64")]
fn avx512_rows(rows: &[&[u8]], out: &mut [[u8; 32]]) {
    // SAFETY: only returned by `lanes()` when the CPU has AVX-512F.
    unsafe { avx512::hash_short(rows, out) }
}

#[cfg(target_arch = "x86_64")]
fn avx2_rows(rows: &[&[u8]], out: &mut [[u8; 32]]) {
    for (rows, out) in rows.chunks(8).zip(out.chunks_mut(8)) {
        // SAFETY: only returned by `lanes()` when the CPU has AVX2.
        unsafe { avx2::hash_short(rows, out) }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{block_counts, lane_blocks, BLOCK_LEN, CHUNK_LEN, IV, SCHEDULE};

    const LANES: usize = 8;

    #[inline]
    #[target_feature(enable = "avx2")]
    fn add(a: __m256i, b: __m256i) -> __m256i {
        _mm256_add_epi32(a, b)
    }

    /// `(a ^ b)` rotated right by 16, 12, 8 or 7 bits in each lane.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn xor_rotr<const N: i32>(a: __m256i, b: __m256i) -> __m256i {
        let x = _mm256_xor_si256(a, b);
        match N {
            16 => _mm256_shuffle_epi8(x, _mm256_set_epi8(
                13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2,
                13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2,
            )),
            8 => _mm256_shuffle_epi8(x, _mm256_set_epi8(
                12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1,
                12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1,
            )),
            12 => _mm256_or_si256(_mm256_srli_epi32::<12>(x), _mm256_slli_epi32::<20>(x)),
            _ => _mm256_or_si256(_mm256_srli_epi32::<7>(x), _mm256_slli_epi32::<25>(x)),
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn g(v: &mut [__m256i; 16], a: usize, b: usize, c: usize, d: usize, mx: __m256i, my: __m256i) {
        v[a] = add(add(v[a], v[b]), mx);
        v[d] = xor_rotr::<16>(v[d], v[a]);
        v[c] = add(v[c], v[d]);
        v[b] = xor_rotr::<12>(v[b], v[c]);
        v[a] = add(add(v[a], v[b]), my);
        v[d] = xor_rotr::<8>(v[d], v[a]);
        v[c] = add(v[c], v[d]);
        v[b] = xor_rotr::<7>(v[b], v[c]);
    }

    /// 8×8 transpose of 32-bit words: row `i` of the result holds word `i`
    /// of every input.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
        let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
        let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
        let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
        let u0 = _mm256_unpacklo_epi64(t0, t2);
        let u1 = _mm256_unpackhi_epi64(t0, t2);
        let u2 = _mm256_unpacklo_epi64(t1, t3);
        let u3 = _mm256_unpackhi_epi64(t1, t3);
        let u4 = _mm256_unpacklo_epi64(t4, t6);
        let u5 = _mm256_unpackhi_epi64(t4, t6);
        let u6 = _mm256_unpacklo_epi64(t5, t7);
        let u7 = _mm256_unpackhi_epi64(t5, t7);
        [
            _mm256_permute2x128_si256::<0x20>(u0, u4),
            _mm256_permute2x128_si256::<0x20>(u1, u5),
            _mm256_permute2x128_si256::<0x20>(u2, u6),
            _mm256_permute2x128_si256::<0x20>(u3, u7),
            _mm256_permute2x128_si256::<0x31>(u0, u4),
            _mm256_permute2x128_si256::<0x31>(u1, u5),
            _mm256_permute2x128_si256::<0x31>(u2, u6),
            _mm256_permute2x128_si256::<0x31>(u3, u7),
        ]
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn load8(words: &[i32; 8]) -> __m256i {
        // SAFETY: `words` is 32 readable bytes; loadu has no alignment need.
        unsafe { _mm256_loadu_si256(words.as_ptr() as *const __m256i) }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn load_block(block: &[u8; BLOCK_LEN]) -> (__m256i, __m256i) {
        let p = block.as_ptr() as *const __m256i;
        // SAFETY: `block` is 64 readable bytes; loadu has no alignment need.
        unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) }
    }

    /// BLAKE3 of up to eight rows of at most one chunk each, one per lane.
    #[target_feature(enable = "avx2")]
    pub(super) fn hash_short(rows: &[&[u8]], out: &mut [[u8; 32]]) {
        debug_assert!(rows.len() <= LANES && rows.iter().all(|r| r.len() <= CHUNK_LEN));
        let blocks: [i32; LANES] = block_counts(rows);
        let most = *blocks.iter().max().expect("eight lanes");
        let blocks_v = load8(&blocks);
        let mut cv = [_mm256_setzero_si256(); 8];
        for (w, iv) in cv.iter_mut().zip(IV) {
            *w = _mm256_set1_epi32(iv as i32);
        }
        let mut padded = [[0u8; BLOCK_LEN]; LANES];
        for b in 0..most {
            let lb = lane_blocks(rows, &blocks, b, &mut padded);
            let mut lo = [_mm256_setzero_si256(); 8];
            let mut hi = [_mm256_setzero_si256(); 8];
            for l in 0..LANES {
                (lo[l], hi[l]) = load_block(lb.bytes[l]);
            }
            let mut m = [_mm256_setzero_si256(); 16];
            m[..8].copy_from_slice(&transpose(lo));
            m[8..].copy_from_slice(&transpose(hi));
            let mut v = [_mm256_setzero_si256(); 16];
            v[..8].copy_from_slice(&cv);
            for i in 0..4 {
                v[8 + i] = _mm256_set1_epi32(IV[i] as i32);
            }
            // v[12], v[13]: the block counter, 0 (a row is the first chunk).
            v[14] = load8(&lb.len);
            v[15] = load8(&lb.flags);
            rounds!(g, &mut v, m);
            // Lanes past their last block keep their chaining value.
            let active = _mm256_cmpgt_epi32(blocks_v, _mm256_set1_epi32(b));
            for i in 0..8 {
                let next = _mm256_xor_si256(v[i], v[i + 8]);
                cv[i] = _mm256_blendv_epi8(cv[i], next, active);
            }
        }
        let lanes = transpose(cv);
        for (o, lane) in out.iter_mut().zip(lanes).take(rows.len()) {
            // SAFETY: `o` is 32 writable bytes; storeu has no alignment need.
            unsafe { _mm256_storeu_si256(o.as_mut_ptr() as *mut __m256i, lane) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{block_counts, lane_blocks, BLOCK_LEN, CHUNK_LEN, IV, LANES, SCHEDULE};

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn g(v: &mut [__m512i; 16], a: usize, b: usize, c: usize, d: usize, mx: __m512i, my: __m512i) {
        v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), mx);
        v[d] = _mm512_ror_epi32::<16>(_mm512_xor_si512(v[d], v[a]));
        v[c] = _mm512_add_epi32(v[c], v[d]);
        v[b] = _mm512_ror_epi32::<12>(_mm512_xor_si512(v[b], v[c]));
        v[a] = _mm512_add_epi32(_mm512_add_epi32(v[a], v[b]), my);
        v[d] = _mm512_ror_epi32::<8>(_mm512_xor_si512(v[d], v[a]));
        v[c] = _mm512_add_epi32(v[c], v[d]);
        v[b] = _mm512_ror_epi32::<7>(_mm512_xor_si512(v[b], v[c]));
    }

    /// 16×16 transpose of 32-bit words: `r[l]` is lane `l`'s block, the
    /// result's vector `w` holds word `w` of every lane.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose(r: &[__m512i; 16]) -> [__m512i; 16] {
        // Per group of four rows, four vectors: words (0,4,8,12), (1,5,9,13),
        // (2,6,10,14), (3,7,11,15), each 128-bit lane one word of the four.
        let mut q = [[_mm512_setzero_si512(); 4]; 4];
        for (g, q) in q.iter_mut().enumerate() {
            let [a, b, c, d] = [r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]];
            let (ab_lo, ab_hi) = (_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
            let (cd_lo, cd_hi) = (_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
            *q = [
                _mm512_unpacklo_epi64(ab_lo, cd_lo),
                _mm512_unpackhi_epi64(ab_lo, cd_lo),
                _mm512_unpacklo_epi64(ab_hi, cd_hi),
                _mm512_unpackhi_epi64(ab_hi, cd_hi),
            ];
        }
        let mut out = [_mm512_setzero_si512(); 16];
        for k in 0..4 {
            // 128-bit lanes 0 and 2 of groups 0,1 / 2,3, and lanes 1 and 3.
            let x01 = _mm512_shuffle_i32x4::<0x88>(q[0][k], q[1][k]);
            let y01 = _mm512_shuffle_i32x4::<0xDD>(q[0][k], q[1][k]);
            let x23 = _mm512_shuffle_i32x4::<0x88>(q[2][k], q[3][k]);
            let y23 = _mm512_shuffle_i32x4::<0xDD>(q[2][k], q[3][k]);
            out[k] = _mm512_shuffle_i32x4::<0x88>(x01, x23);
            out[k + 8] = _mm512_shuffle_i32x4::<0xDD>(x01, x23);
            out[k + 4] = _mm512_shuffle_i32x4::<0x88>(y01, y23);
            out[k + 12] = _mm512_shuffle_i32x4::<0xDD>(y01, y23);
        }
        out
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load16(words: &[i32; 16]) -> __m512i {
        // SAFETY: `words` is 64 readable bytes; loadu has no alignment need.
        unsafe { _mm512_loadu_si512(words.as_ptr() as *const __m512i) }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn load_block(block: &[u8; BLOCK_LEN]) -> __m512i {
        // SAFETY: `block` is 64 readable bytes; loadu has no alignment need.
        unsafe { _mm512_loadu_si512(block.as_ptr() as *const __m512i) }
    }

    /// BLAKE3 of up to sixteen rows of at most one chunk each, one per lane.
    #[target_feature(enable = "avx512f")]
    pub(super) fn hash_short(rows: &[&[u8]], out: &mut [[u8; 32]]) {
        debug_assert!(rows.len() <= LANES && rows.iter().all(|r| r.len() <= CHUNK_LEN));
        let blocks: [i32; LANES] = block_counts(rows);
        let most = *blocks.iter().max().expect("sixteen lanes");
        let blocks_v = load16(&blocks);
        let mut cv = [_mm512_setzero_si512(); 8];
        for (w, iv) in cv.iter_mut().zip(IV) {
            *w = _mm512_set1_epi32(iv as i32);
        }
        let mut padded = [[0u8; BLOCK_LEN]; LANES];
        for b in 0..most {
            let lb = lane_blocks(rows, &blocks, b, &mut padded);
            let mut lane_words = [_mm512_setzero_si512(); 16];
            for (w, bytes) in lane_words.iter_mut().zip(lb.bytes) {
                *w = load_block(bytes);
            }
            let m = transpose(&lane_words);
            let mut v = [_mm512_setzero_si512(); 16];
            v[..8].copy_from_slice(&cv);
            for i in 0..4 {
                v[8 + i] = _mm512_set1_epi32(IV[i] as i32);
            }
            // v[12], v[13]: the block counter, 0 (a row is the first chunk).
            v[14] = load16(&lb.len);
            v[15] = load16(&lb.flags);
            rounds!(g, &mut v, m);
            // Lanes past their last block keep their chaining value.
            let active = _mm512_cmpgt_epi32_mask(blocks_v, _mm512_set1_epi32(b));
            for i in 0..8 {
                cv[i] = _mm512_mask_mov_epi32(cv[i], active, _mm512_xor_si512(v[i], v[i + 8]));
            }
        }
        let mut words = [[0u32; LANES]; 8];
        for (w, v) in words.iter_mut().zip(cv) {
            // SAFETY: `w` is 64 writable bytes; storeu has no alignment need.
            unsafe { _mm512_storeu_si512(w.as_mut_ptr() as *mut __m512i, v) };
        }
        for (l, o) in out.iter_mut().enumerate().take(rows.len()) {
            for (i, w) in words.iter().enumerate() {
                o[4 * i..4 * i + 4].copy_from_slice(&w[l].to_le_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// `hash_rows` and every lane implementation this CPU can run.
    fn implementations() -> Vec<(&'static str, Lanes)> {
        let mut v: Vec<(&'static str, Lanes)> = vec![("hash_rows", hash_rows)];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                v.push(("avx512", avx512_rows));
            }
            if std::is_x86_feature_detected!("avx2") {
                v.push(("avx2", avx2_rows));
            }
        }
        v
    }

    fn check(rows: &[Vec<u8>]) {
        let refs: Vec<&[u8]> = rows.iter().map(|r| r.as_slice()).collect();
        let long = rows.iter().any(|r| r.len() > CHUNK_LEN);
        for (name, f) in implementations() {
            if long && name != "hash_rows" {
                continue;
            }
            let mut out = [[0u8; 32]; LANES];
            f(&refs, &mut out);
            for (r, o) in rows.iter().zip(&out) {
                assert_eq!(o, blake3::hash(r).as_bytes(), "{name}: row of {} bytes among {}", r.len(), rows.len());
            }
        }
    }

    #[test]
    fn every_length_up_to_two_chunks_equals_blake3() {
        // Each length in every lane position, next to rows of other lengths.
        for len in 0..=2 * CHUNK_LEN + 1 {
            let rows: Vec<Vec<u8>> = (0..LANES).map(|l| bytes((len + l * 37) % (CHUNK_LEN + 1), (len * LANES + l) as u64)).collect();
            check(&rows);
            check(&[bytes(len, len as u64)]);
        }
    }

    #[test]
    fn partial_batches_and_long_rows_equal_blake3() {
        for n in 0..=LANES {
            let rows: Vec<Vec<u8>> = (0..n).map(|l| bytes(l * 70, l as u64)).collect();
            check(&rows);
        }
        // A batch with rows past a chunk goes to blake3 row by row.
        let rows: Vec<Vec<u8>> = (0..LANES).map(|l| bytes(if l % 5 == 3 { 5000 } else { 64 * l }, l as u64)).collect();
        check(&rows);
    }

    #[test]
    fn block_boundaries_equal_blake3() {
        for len in [0, 1, 63, 64, 65, 127, 128, 129, 960, 1023, 1024] {
            let rows: Vec<Vec<u8>> = (0..LANES).map(|l| bytes(len, l as u64)).collect();
            check(&rows);
        }
    }
}

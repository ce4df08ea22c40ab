/* The channel mixing of an FFT convolution, on spectra laid out as PyTorch's FFTs write them.
 *
 *   out[m, n, f] = sum_k op(a[m, k, f]) * op(b[k, n, f])      complex64, every f
 *
 * Frequencies are the contiguous axis of all three tensors; the other axes have any strides
 * (in complex elements). A per-frequency batched GEMM would first reorder every spectrum to
 * frequency-first, and on a CPU those reorders cost as much as the GEMMs. Here each thread
 * copies a block of 32 frequencies of both operands into packed, cache-resident buffers, row
 * by row (contiguous reads), multiplies a vector of frequencies at a time (8 in AVX-512
 * registers, 4 in AVX2 ones; MR x NR complex outputs per tile, two FMAs per complex
 * multiply-add on interleaved [re, im] lanes) into a packed output, and writes that back row
 * by row. Row by row, because each row of a spectrum sits in its own pages: writing the tiles
 * straight to the output cost a third of the time (TLB misses); packing it saved 15%.
 *
 * Built on first use by models/native/__init__.py with the host compiler (-march=native); with
 * neither AVX-512F nor AVX2 + FMA it builds a stub reporting so, and the caller keeps PyTorch's
 * batched GEMMs.
 */
#include <stdint.h>
#include <stdlib.h>

#define MIX_PLAIN 0  /* a * b */
#define MIX_CONJ_B 1  /* a * conj(b) */
#define MIX_CONJ_A 2  /* conj(a) * b */

#if defined(__AVX512F__)
#define MIX_ISA 512
#elif defined(__AVX2__) && defined(__FMA__)
#define MIX_ISA 256
#else
#define MIX_ISA 0
#endif

#if MIX_ISA == 0

int ckconv_mix_supported(void) { return 0; }
int ckconv_mix(const float* a, const float* b, float* out, int64_t M, int64_t N, int64_t K,
               int64_t F, int64_t sam, int64_t sak, int64_t sbk, int64_t sbn, int64_t som,
               int64_t son, int mode, int threads) {
  return -1;
}

#else
#include <immintrin.h>
#include <omp.h>

/* The vector operations, for one register of LANES floats = CHUNK complex numbers. */
#if MIX_ISA == 512
enum { LANES = 16 };
#define MR 2  /* tile rows and columns: macros, for the #if in mix_chunk */
#define NR 4
typedef __m512 vec;
typedef __mmask16 mask_t;
static inline mask_t chunk_mask(int64_t freqs_left) {
  return freqs_left >= LANES / 2 ? (mask_t)0xFFFF : (mask_t)((1u << (2 * freqs_left)) - 1);
}
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_load_ps(p)
#define VSTORE(p, v) _mm512_store_ps(p, v)
#define VLOAD_MASKED(p, m) _mm512_maskz_loadu_ps(m, p)
#define VSTORE_MASKED(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define VSWAP_PAIRS(v) _mm512_permute_ps(v, 0xB1)
#define VDUP_EVEN(v) _mm512_moveldup_ps(v)
#define VDUP_ODD(v) _mm512_movehdup_ps(v)
#define VFMADD(a, b, c) _mm512_fmadd_ps(a, b, c)
#define VFMADDSUB(a, b, c) _mm512_fmaddsub_ps(a, b, c)
#define VFMSUBADD(a, b, c) _mm512_fmsubadd_ps(a, b, c)
#define VNEGATE_ODD(v) \
  _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), \
                                       _mm512_set1_epi64((long long)0x8000000000000000ULL)))
#else
enum { LANES = 8 };
#define MR 2  /* 16 registers: 8 accumulators */
#define NR 2
typedef __m256 vec;
typedef __m256i mask_t;
static inline mask_t chunk_mask(int64_t freqs_left) {
  const int64_t floats = freqs_left >= LANES / 2 ? LANES : 2 * freqs_left;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)floats),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define VZERO() _mm256_setzero_ps()
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_load_ps(p)
#define VSTORE(p, v) _mm256_store_ps(p, v)
#define VLOAD_MASKED(p, m) _mm256_maskload_ps(p, m)
#define VSTORE_MASKED(p, m, v) _mm256_maskstore_ps(p, m, v)
#define VSWAP_PAIRS(v) _mm256_permute_ps(v, 0xB1)
#define VDUP_EVEN(v) _mm256_moveldup_ps(v)
#define VDUP_ODD(v) _mm256_movehdup_ps(v)
#define VFMADD(a, b, c) _mm256_fmadd_ps(a, b, c)
#define VFMADDSUB(a, b, c) _mm256_fmaddsub_ps(a, b, c)
#define VFMSUBADD(a, b, c) _mm256_fmsubadd_ps(a, b, c)
#define VNEGATE_ODD(v) \
  _mm256_xor_ps(v, _mm256_castsi256_ps(_mm256_set1_epi64x((long long)0x8000000000000000ULL)))
#endif

enum { CHUNK = LANES / 2, FREQ_CHUNKS = 32 / CHUNK };  /* blocks of 32 frequencies */

int ckconv_mix_supported(void) { return 1; }

/* out[m0 : m0+mr, n0 : n0+nr] at one chunk of frequencies, into the packed output. ap: packed a
 * rows (m, k), bp: packed b rows (k, n). mr, nr are compile-time constants after inlining. */
static inline __attribute__((always_inline)) void tile(
    const float* ap, const float* bp, float* out, int64_t N, int64_t K,
    int64_t m0, int64_t n0, int mode, const int mr, const int nr) {
  /* acc_re += a * (re b, re b); acc_im += swap(a) * (im b, im b): then even lanes
   * acc_re - acc_im and odd lanes acc_re + acc_im are re(a b), im(a b) */
  vec acc_re[MR][NR], acc_im[MR][NR];
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) acc_re[i][j] = acc_im[i][j] = VZERO();
  const float* arow = ap + m0 * K * LANES;
  const float* brow = bp + n0 * LANES;
  for (int64_t k = 0; k < K; ++k) {
    vec av[MR], aswap[MR];
    for (int i = 0; i < mr; ++i) {
      av[i] = VLOAD(arow + (i * K + k) * LANES);
      aswap[i] = VSWAP_PAIRS(av[i]);
    }
    for (int j = 0; j < nr; ++j) {
      vec bv = VLOAD(brow + (k * N + j) * LANES);
      vec b_re = VDUP_EVEN(bv), b_im = VDUP_ODD(bv);
      for (int i = 0; i < mr; ++i) {
        acc_re[i][j] = VFMADD(av[i], b_re, acc_re[i][j]);
        acc_im[i][j] = VFMADD(aswap[i], b_im, acc_im[i][j]);
      }
    }
  }
  const vec one = VSET1(1.0f);
  for (int i = 0; i < mr; ++i)
    for (int j = 0; j < nr; ++j) {
      vec r;
      if (mode == MIX_PLAIN) {
        r = VFMADDSUB(one, acc_re[i][j], acc_im[i][j]);
      } else {  /* a conj(b); conj(a) b = conj(a conj(b)) */
        r = VFMSUBADD(one, acc_re[i][j], acc_im[i][j]);
        if (mode == MIX_CONJ_A) r = VNEGATE_ODD(r);
      }
      VSTORE(out + ((m0 + i) * N + n0 + j) * LANES, r);
    }
}

#define TILE(MR_, NR_) tile(ap, bp, out, N, K, m0, n0, mode, MR_, NR_)

/* All of out at one chunk of frequencies (packed output, rows (m, n)). */
static void mix_chunk(const float* ap, const float* bp, float* out, int64_t M, int64_t N,
                      int64_t K, int mode) {
  for (int64_t n0 = 0; n0 < N; n0 += NR) {
    int64_t nr = N - n0 < NR ? N - n0 : NR;
    for (int64_t m0 = 0; m0 < M; m0 += MR) {
      switch ((M - m0 < MR ? M - m0 : MR) * 8 + nr) {
#if NR == 4
        case 2 * 8 + 4: TILE(2, 4); break;
        case 2 * 8 + 3: TILE(2, 3); break;
        case 1 * 8 + 4: TILE(1, 4); break;
        case 1 * 8 + 3: TILE(1, 3); break;
#endif
        case 2 * 8 + 2: TILE(2, 2); break;
        case 2 * 8 + 1: TILE(2, 1); break;
        case 1 * 8 + 2: TILE(1, 2); break;
        default: TILE(1, 1); break;
      }
    }
  }
}

/* Copies frequencies [f0, f0 + CHUNK * chunks) of the rows (r1, r2) of src into dst laid out
 * [chunk][r1 * R2 + r2][LANES floats], zero beyond F. */
static void pack(const float* src, float* dst, int64_t R1, int64_t R2, int64_t s1, int64_t s2,
                 int64_t f0, int64_t F, int64_t chunks) {
  const int64_t rows = R1 * R2;
  for (int64_t r1 = 0; r1 < R1; ++r1)
    for (int64_t r2 = 0; r2 < R2; ++r2) {
      const float* row = src + 2 * (r1 * s1 + r2 * s2 + f0);
      float* packed = dst + (r1 * R2 + r2) * LANES;
      for (int64_t c = 0; c < chunks; ++c)
        VSTORE(packed + c * rows * LANES,
               VLOAD_MASKED(row + c * LANES, chunk_mask(F - f0 - c * CHUNK)));
    }
}

/* The inverse of pack: rows (m, n) of src [chunk][m * N + n][LANES floats] to out. */
static void unpack(const float* src, float* out, int64_t M, int64_t N, int64_t som, int64_t son,
                   int64_t f0, int64_t F, int64_t chunks) {
  const int64_t rows = M * N;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float* row = out + 2 * (m * som + n * son + f0);
      const float* packed = src + (m * N + n) * LANES;
      for (int64_t c = 0; c < chunks; ++c)
        VSTORE_MASKED(row + c * LANES, chunk_mask(F - f0 - c * CHUNK),
                      VLOAD(packed + c * rows * LANES));
    }
}

/* Returns 0, or -1 if the packing buffers could not be allocated. */
int ckconv_mix(const float* a, const float* b, float* out, int64_t M, int64_t N, int64_t K,
               int64_t F, int64_t sam, int64_t sak, int64_t sbk, int64_t sbn, int64_t som,
               int64_t son, int mode, int threads) {
  const int64_t block = FREQ_CHUNKS * CHUNK, blocks = (F + block - 1) / block;
  const int64_t a_size = M * K * FREQ_CHUNKS * LANES, b_size = K * N * FREQ_CHUNKS * LANES;
  const int64_t c_size = M * N * FREQ_CHUNKS * LANES;
  float* buffers = aligned_alloc(64, threads * (a_size + b_size + c_size) * sizeof(float));
  if (buffers == NULL) return -1;
  #pragma omp parallel num_threads(threads)
  {
    float* ap = buffers + omp_get_thread_num() * (a_size + b_size + c_size);
    float* bp = ap + a_size;
    float* cp = bp + b_size;
    #pragma omp for schedule(static)
    for (int64_t i = 0; i < blocks; ++i) {
      const int64_t f0 = i * block, left = F - f0;
      const int64_t chunks = left >= block ? FREQ_CHUNKS : (left + CHUNK - 1) / CHUNK;
      pack(a, ap, M, K, sam, sak, f0, F, chunks);
      pack(b, bp, K, N, sbk, sbn, f0, F, chunks);
      for (int64_t c = 0; c < chunks; ++c)
        mix_chunk(ap + c * M * K * LANES, bp + c * K * N * LANES, cp + c * M * N * LANES, M, N, K,
                  mode);
      unpack(cp, out, M, N, som, son, f0, F, chunks);
    }
  }
  free(buffers);
  return 0;
}
#endif

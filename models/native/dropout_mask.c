/* Dropout masks from a counter-based generator: element i of the mask depends only on the seed
 * and i, so threads fill disjoint ranges and any thread count gives the same mask.
 *
 * Word j is splitmix64's output for state seed + (j + 1) * golden; its low and high 32 bits,
 * read as signed integers, decide elements 2j and 2j + 1: kept (= scale) when >= min_kept.
 * models/ckcnn.py computes the same mask with PyTorch integer ops where this is not built.
 */
#include <stdint.h>

static inline uint64_t splitmix64(uint64_t seed, int64_t j) {
  uint64_t z = seed + (uint64_t)(j + 1) * 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void ckconv_dropout_mask(float* mask, int64_t n, uint64_t seed, int32_t min_kept, float scale,
                         int threads) {
  const int64_t pairs = n / 2;
  #pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t j = 0; j < pairs; ++j) {
    const uint64_t z = splitmix64(seed, j);
    mask[2 * j] = (int32_t)(uint32_t)z >= min_kept ? scale : 0.0f;
    mask[2 * j + 1] = (int32_t)(uint32_t)(z >> 32) >= min_kept ? scale : 0.0f;
  }
  if (n % 2) mask[n - 1] = (int32_t)(uint32_t)splitmix64(seed, pairs) >= min_kept ? scale : 0.0f;
}

// fmapeak: this CPU's fp32 fused multiply-add peak, the physical limit the
// gold stage's GFLOP/s is compared with (docs/BENCHMARKS.md). Each thread runs
// 16 independent chains of FMAs on the widest vectors the compiler targets
// (AVX-512 where -march=native has it, else AVX2), written out so they stay
// in registers: the figure is the FMA units' throughput, nothing else.
// Build: cc -O2 -march=native -pthread fmapeak.c   Usage: ./a.out THREADS
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef __AVX512F__
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define SUM _mm512_reduce_add_ps
#define ISA "AVX-512"
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
static float SUM(__m256 v) { float o[8], s = 0; _mm256_storeu_ps(o, v); for (int i = 0; i < 8; i++) s += o[i]; return s; }
#define ISA "AVX2"
#endif

static const long iters = 100000000L;
static volatile float sink;

static void *run(void *arg) {
	(void)arg;
	vec a0 = SET1(1.00f), a1 = SET1(1.01f), a2 = SET1(1.02f), a3 = SET1(1.03f), a4 = SET1(1.04f), a5 = SET1(1.05f),
	    a6 = SET1(1.06f), a7 = SET1(1.07f), a8 = SET1(1.08f), a9 = SET1(1.09f), a10 = SET1(1.10f), a11 = SET1(1.11f),
	    a12 = SET1(1.12f), a13 = SET1(1.13f), a14 = SET1(1.14f), a15 = SET1(1.15f);
	const vec b = SET1(0.9999999f), c = SET1(1e-7f);
	for (long i = 0; i < iters; i++) {
		a0 = FMA(a0, b, c); a1 = FMA(a1, b, c); a2 = FMA(a2, b, c); a3 = FMA(a3, b, c);
		a4 = FMA(a4, b, c); a5 = FMA(a5, b, c); a6 = FMA(a6, b, c); a7 = FMA(a7, b, c);
		a8 = FMA(a8, b, c); a9 = FMA(a9, b, c); a10 = FMA(a10, b, c); a11 = FMA(a11, b, c);
		a12 = FMA(a12, b, c); a13 = FMA(a13, b, c); a14 = FMA(a14, b, c); a15 = FMA(a15, b, c);
	}
	sink = SUM(a0) + SUM(a1) + SUM(a2) + SUM(a3) + SUM(a4) + SUM(a5) + SUM(a6) + SUM(a7) + SUM(a8) + SUM(a9) +
	       SUM(a10) + SUM(a11) + SUM(a12) + SUM(a13) + SUM(a14) + SUM(a15);
	return NULL;
}

int main(int argc, char **argv) {
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	if (threads < 1 || threads > 256) threads = 1;
	pthread_t t[256];
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, NULL);
	for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	double flops = (double)threads * iters * 16 * LANES * 2;  // an FMA is two flops a lane
	printf("%d threads: %.1f GFLOP/s fp32 %s (%.3f s)\n", threads, flops / s / 1e9, ISA, s);
	return 0;
}

package dev.dynalora.kernels.vector;

import dev.dynalora.kernels.DropoutMask;
import dev.dynalora.kernels.Kernels;

import static dev.dynalora.kernels.DropoutMask.keep;
import static dev.dynalora.kernels.DropoutMask.maskWords;
import static dev.dynalora.kernels.DropoutMask.streamKey;
import static dev.dynalora.kernels.DropoutMask.threshold;

/**
 * Inverted dropout ({@link dev.dynalora.kernels.Kernels#dropoutForward},
 * {@link dev.dynalora.kernels.Kernels#dropoutBackward}, {@link dev.dynalora.kernels.Kernels#dropoutBackwardMasked})
 * with the counter-based mask of {@link DropoutMask}. Plain loops (the hash, two 64-bit multiplies per
 * element, is most of the cost and AVX2 cannot vectorise it); threads split the work at whole mask words.
 */
public final class VectorDropout {

    private VectorDropout() {
    }

    private static final int MIN_PARALLEL = 1 << 14;

    /** See {@link dev.dynalora.kernels.Kernels#dropoutForward}. */
    public static void forward(Kernels k, float[] out, float[] in, int n, float p, long seed, long stream, long first,
                               long[] keep) {
        if (keep != null) {
            forwardRecording(k, out, in, n, p, seed, stream, first, keep);
            return;
        }
        if (p == 0f) {
            if (out != in) {
                System.arraycopy(in, 0, out, 0, n);
            }
            return;
        }
        final long key = streamKey(seed, stream);
        final long threshold = threshold(p);
        final float scale = p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
        run(k, n, (from, to) -> {
            for (int i = from; i < to; i++) {
                out[i] = keep(key, first + i, threshold) ? in[i] * scale : 0f;
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#dropoutBackward}. */
    public static void backward(Kernels k, float[] din, float[] dout, int n, float p, long seed, long stream, long first) {
        if (p == 0f) {
            run(k, n, (from, to) -> {
                for (int i = from; i < to; i++) {
                    din[i] += dout[i];
                }
            });
            return;
        }
        final long key = streamKey(seed, stream);
        final long threshold = threshold(p);
        final float scale = p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
        run(k, n, (from, to) -> {
            for (int i = from; i < to; i++) {
                if (keep(key, first + i, threshold)) {
                    din[i] += dout[i] * scale;
                }
            }
        });
    }

    /** Forward that also records the mask bits; threads split the work at whole words. */
    private static void forwardRecording(Kernels k, float[] out, float[] in, int n, float p, long seed, long stream,
                                         long first, long[] keep) {
        final long key = streamKey(seed, stream);
        final long threshold = p == 0f ? 0L : threshold(p);
        final float scale = p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
        runWords(k, n, (w0, w1) -> {
            for (int w = w0; w < w1; w++) {
                int base = w << 6;
                int end = Math.min(base + 64, n);
                long bits = 0L;
                for (int i = base; i < end; i++) {
                    // p == 0 keeps everything (threshold 0) and is then an exact copy: in[i] * 1f.
                    boolean kept = keep(key, first + i, threshold);
                    if (kept) {
                        bits |= 1L << (i - base);
                    }
                    out[i] = kept ? in[i] * scale : 0f;
                }
                keep[w] = bits;
            }
        });
    }

    /** See {@link dev.dynalora.kernels.Kernels#dropoutBackwardMasked}. */
    public static void backwardMasked(Kernels k, float[] din, float[] dout, int n, float p, long[] keep, boolean accumulate) {
        final float scale = p >= 1f ? 0f : (float) (1.0 / (1.0 - p));
        runWords(k, n, (w0, w1) -> {
            for (int w = w0; w < w1; w++) {
                int base = w << 6;
                int end = Math.min(base + 64, n);
                long bits = keep[w];
                if (accumulate) {
                    for (int i = base; i < end; i++) {
                        if ((bits >>> (i - base) & 1L) != 0) {
                            din[i] += dout[i] * scale;
                        }
                    }
                } else {
                    for (int i = base; i < end; i++) {
                        din[i] = (bits >>> (i - base) & 1L) != 0 ? dout[i] * scale : 0f;
                    }
                }
            }
        });
    }

    /** Runs body over word ranges [w0, w1) of the 64-element words covering [0, n). */
    private static void runWords(Kernels k, int n, Kernels.RangeBody body) {
        int words = maskWords(n);
        if (n < MIN_PARALLEL) {
            if (words > 0) {
                body.run(0, words);
            }
        } else {
            k.parallelFor(words, body);
        }
    }

    private static void run(Kernels k, int n, Kernels.RangeBody body) {
        if (n < MIN_PARALLEL) {
            if (n > 0) {
                body.run(0, n);
            }
        } else {
            k.parallelFor(n, body);
        }
    }
}

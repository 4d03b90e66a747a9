package dev.dynalora.layers;

import dev.dynalora.kernels.Kernels;
import dev.dynalora.kernels.ReferenceKernels;
import dev.dynalora.kernels.vector.VectorKernels;

import java.util.ArrayList;
import java.util.List;

/**
 * A test backend whose parallelFor really runs its contiguous chunks on separate threads (in reverse start
 * order, to shake out order dependence), with the reference gemm. Ops run on it must give bit-identical
 * results to the single-threaded ReferenceKernels: a race or a reduction split across chunks shows up as
 * a difference or an exception.
 */
final class ThreadedTestKernels extends VectorKernels {
    private final int threads;
    private final ReferenceKernels ref = new ReferenceKernels();

    ThreadedTestKernels(int threads) {
        this.threads = threads;
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                      float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        ref.sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    @Override
    public void sgemmLocal(boolean transA, boolean transB, int m, int n, int k, float alpha, float[] a, int aOff, int lda,
                           float[] b, int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        ref.sgemmLocal(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    @Override
    public void parallelFor(int n, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int chunks = Math.min(threads, n);
        List<Thread> started = new ArrayList<>();
        Throwable[] failure = new Throwable[1];
        for (int t = chunks - 1; t >= 0; t--) {
            int from = (int) ((long) n * t / chunks);
            int to = (int) ((long) n * (t + 1) / chunks);
            Thread th = new Thread(() -> body.run(from, to));
            th.setUncaughtExceptionHandler((x, e) -> {
                synchronized (failure) {
                    failure[0] = e;
                }
            });
            th.start();
            started.add(th);
        }
        for (Thread th : started) {
            try {
                th.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
        synchronized (failure) {
            if (failure[0] != null) {
                throw new IllegalStateException("parallel chunk failed", failure[0]);
            }
        }
    }

    /** Blocks spread over the threads, each thread taking its blocks in reverse order. */
    @Override
    public void parallelForDynamic(int n, int block, RangeBody body) {
        if (n <= 0) {
            return;
        }
        int blocks = (n + block - 1) / block;
        parallelFor(blocks, (b0, b1) -> {
            for (int blk = b1 - 1; blk >= b0; blk--) {
                body.run(blk * block, Math.min(n, (blk + 1) * block));
            }
        });
    }

    @Override
    public String toString() {
        return "ThreadedTestKernels(" + threads + ")";
    }
}

package dev.dynalora.serving;

import dev.dynalora.adapters.LinearAdapter;
import dev.dynalora.adapters.TokenBatch;
import dev.dynalora.kernels.Kernels;
import dev.dynalora.tensor.Param;

import java.util.Arrays;
import java.util.List;

/**
 * The adapter attached to each of the base model's linear modules while serving: for every row of a forward
 * pass, the adapter of the request that row belongs to (S-LoRA's and Punica's per-row adapter product). The
 * base product has already run once for the whole batch; this adds each row's own LoRA product.
 *
 * <p>Consecutive rows of the same adapter are one group, and a group's product is that adapter's own
 * {@link LinearAdapter#forward} on those rows alone (copied out and back when the group is not the whole
 * batch), so a row gets exactly the float operations it gets when its request runs alone, as long as the
 * products themselves compute each row independently of the others: see {@link Scheduler} for how the
 * scheduler keeps them so.
 *
 * <p>Inference only: no backward pass, no merge. Runs on the scheduler thread.
 */
final class RoutedAdapter implements LinearAdapter {
    /** Which adapter each row of the current forward pass uses; set by the scheduler before each pass. */
    static final class Routing {
        /** Per segment (sequence) of the pass, its adapter (null: the base alone) and its number of rows. */
        ServedAdapter[] adapters = new ServedAdapter[0];
        int[] rows = new int[0];
        int segments;
        int totalRows;

        void set(ServedAdapter[] a, int[] r, int n) {
            adapters = a;
            rows = r;
            segments = n;
            int t = 0;
            for (int i = 0; i < n; i++) {
                t += r[i];
            }
            totalRows = t;
        }
    }

    private final int module;
    private final int in;
    private final int out;
    private final Routing routing;
    private float[] xs = new float[0];
    private float[] ys = new float[0];

    RoutedAdapter(int module, int in, int out, Routing routing) {
        this.module = module;
        this.in = in;
        this.out = out;
        this.routing = routing;
    }

    @Override
    public void forward(Kernels k, float[] x, float[] y, TokenBatch batch) {
        int rows = batch.rows();
        Routing r = routing;
        // A decoder layer's projection sees every row of the pass; a module on the last rows only (lm_head) one
        // row per segment.
        boolean perSegment = rows != r.totalRows;
        if (perSegment && rows != r.segments) {
            throw new IllegalStateException(rows + " rows in a pass of " + r.totalRows + " rows, " + r.segments + " sequences");
        }
        int row = 0;
        int s = 0;
        while (s < r.segments) {
            ServedAdapter a = r.adapters[s];
            int first = row;
            int e = s;
            while (e < r.segments && r.adapters[e] == a) {
                row += perSegment ? 1 : r.rows[e];
                e++;
            }
            s = e;
            LinearAdapter la = a == null ? null : a.modules[module];
            if (la == null) {
                continue;
            }
            int g = row - first;
            if (g == rows) {
                la.forward(k, x, y, batch);
                continue;
            }
            if (xs.length < g * in) {
                xs = new float[g * in];
            }
            if (ys.length < g * out) {
                ys = new float[g * out];
            }
            System.arraycopy(x, first * in, xs, 0, g * in);
            System.arraycopy(y, first * out, ys, 0, g * out);
            int[] ones = new int[g];
            Arrays.fill(ones, 1);
            la.forward(k, xs, ys, new TokenBatch(g, 1, ones, false, 0, 0));
            System.arraycopy(ys, 0, y, first * out, g * out);
        }
    }

    @Override
    public void backward(Kernels k, float[] x, float[] dy, float[] dx, TokenBatch batch) {
        throw new UnsupportedOperationException("serving adapters do not train");
    }

    @Override
    public List<Param> params() {
        return List.of();
    }

    @Override
    public void mergeInto(float[] weight) {
        throw new UnsupportedOperationException("a per-row adapter has no single weight to merge");
    }
}

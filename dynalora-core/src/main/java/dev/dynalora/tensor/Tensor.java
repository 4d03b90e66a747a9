package dev.dynalora.tensor;

import java.util.Arrays;

/**
 * A dense float32 tensor: a shape and a flat row-major array. Deliberately minimal: ops work on the flat
 * arrays directly (llm.c style), the shape is carried for checking and for file formats.
 */
public final class Tensor {
    private final int[] shape;
    private final float[] data;

    public Tensor(int[] shape, float[] data) {
        long n = numel(shape);
        if (n != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " needs " + n + " values, got " + data.length);
        }
        this.shape = shape.clone();
        this.data = data;
    }

    public static Tensor zeros(int... shape) {
        long n = numel(shape);
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("tensor too large: " + Arrays.toString(shape));
        }
        return new Tensor(shape, new float[(int) n]);
    }

    public static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            }
            n *= d;
        }
        return n;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int dim(int i) {
        return shape[i];
    }

    public int rank() {
        return shape.length;
    }

    public float[] data() {
        return data;
    }

    public int size() {
        return data.length;
    }

    public Tensor copy() {
        return new Tensor(shape, data.clone());
    }

    @Override
    public String toString() {
        return "Tensor" + Arrays.toString(shape);
    }
}

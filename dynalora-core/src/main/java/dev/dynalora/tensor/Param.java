package dev.dynalora.tensor;

/**
 * A named model parameter: its value and, when trainable, a gradient buffer of the same size. Frozen
 * parameters have no gradient buffer at all, so no code can spend time on their weight gradients.
 */
public final class Param {
    private final String name;
    private final Tensor value;
    private float[] grad;

    public Param(String name, Tensor value, boolean trainable) {
        this.name = name;
        this.value = value;
        this.grad = trainable ? new float[value.size()] : null;
    }

    public String name() {
        return name;
    }

    public Tensor value() {
        return value;
    }

    public float[] data() {
        return value.data();
    }

    /** The gradient buffer, or null when the parameter is frozen. */
    public float[] grad() {
        return grad;
    }

    public boolean trainable() {
        return grad != null;
    }

    public void setTrainable(boolean trainable) {
        if (trainable && grad == null) {
            grad = new float[value.size()];
        } else if (!trainable) {
            grad = null;
        }
    }

    public void zeroGrad() {
        if (grad != null) {
            java.util.Arrays.fill(grad, 0f);
        }
    }

    @Override
    public String toString() {
        return name + value + (trainable() ? " trainable" : " frozen");
    }
}

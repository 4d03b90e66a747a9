package dev.dynalora.cli.bench;

import java.math.BigDecimal;
import java.util.Locale;

/**
 * One training run of a grid. Its run folder is OUT/&lt;task&gt;-&lt;method&gt;-s&lt;seed&gt;, as the first
 * bench/glue-grid.sh script named them; when its method trains at several learning rates (--lrs-for), the rate is
 * part of the name, OUT/&lt;task&gt;-&lt;method&gt;-lr&lt;rate&gt;-s&lt;seed&gt; (for example mrpc-lora-lr2e-3-s1), so that
 * a grid with one rate per method keeps the folder names it always had and still resumes.
 *
 * @param lr        the run's peak learning rate
 * @param lrInName  whether the rate is part of the folder name (its method has several rates)
 */
public record GridRun(String task, String method, int seed, double lr, boolean lrInName) implements java.io.Serializable {

    /** A run of a method with a single learning rate: the rate is not in its folder name. */
    public GridRun(String task, String method, int seed, double lr) {
        this(task, method, seed, lr, false);
    }

    public String dirName() {
        return task + "-" + method + (lrInName ? "-lr" + lrLabel(lr) : "") + "-s" + seed;
    }

    /**
     * A learning rate as it is written in folder names and tables: the shortest exact decimal in scientific form,
     * 2e-3, 5e-4, 1.5e-3, 3e-5 (1 for 1.0, 1e1 for 10).
     */
    public static String lrLabel(double lr) {
        BigDecimal d = new BigDecimal(Double.toString(lr)).stripTrailingZeros();
        int exponent = d.precision() - d.scale() - 1;
        String digits = d.unscaledValue().abs().toString();
        String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
        String sign = d.signum() < 0 ? "-" : "";
        return sign + mantissa + (exponent == 0 ? "" : "e" + exponent).toLowerCase(Locale.ROOT);
    }
}

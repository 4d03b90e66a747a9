package dev.dynalora.cli.bench;

/** One training run of a grid; its run folder is OUT/&lt;task&gt;-&lt;method&gt;-s&lt;seed&gt;, as the first bench/glue-grid.sh script named them. */
public record GridRun(String task, String method, int seed) implements java.io.Serializable {
    public String dirName() {
        return task + "-" + method + "-s" + seed;
    }
}

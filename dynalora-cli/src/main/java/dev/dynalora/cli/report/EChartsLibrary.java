package dev.dynalora.cli.report;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * Apache ECharts (Apache License 2.0), from the org.webjars:echarts webjar on the class path. The report
 * inlines the minified library so that the HTML file needs no network to be viewed.
 */
public final class EChartsLibrary {
    public static final String VERSION = "5.5.0";
    static final String RESOURCE = "/META-INF/resources/webjars/echarts/" + VERSION + "/echarts.min.js";

    private static volatile String script;

    private EChartsLibrary() {
    }

    /** The library's source, safe to put between script tags (checked: it never closes the tag itself). */
    public static String script() {
        String s = script;
        if (s == null) {
            try (InputStream in = EChartsLibrary.class.getResourceAsStream(RESOURCE)) {
                if (in == null) {
                    throw new IllegalStateException("ECharts " + VERSION + " is not on the class path (" + RESOURCE
                            + "; dependency org.webjars:echarts:" + VERSION + ")");
                }
                s = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + RESOURCE, e);
            }
            String lower = s.toLowerCase(Locale.ROOT);
            if (lower.contains("</script") || lower.contains("<!--")) {
                throw new IllegalStateException(RESOURCE + " cannot be inlined in a script element");
            }
            script = s;
        }
        return s;
    }
}

package dev.dynalora.cli.bench;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The command line of a child JVM that runs the dynalora CLI with this process's java executable, JVM flags
 * (heap, collector, --add-modules jdk.incubator.vector, system properties) and class path. Benchmarks run each
 * measurement in its own child so that peak memory is per measurement and no run profits from the JIT warm-up
 * or suffers from the heap left behind by an earlier one.
 */
public final class ChildJava {
    private ChildJava() {
    }

    /** {@code java <this JVM's flags> -cp <this class path> mainClass args...}. */
    public static List<String> command(String mainClass, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(javaExecutable());
        cmd.addAll(jvmFlags(ManagementFactory.getRuntimeMXBean().getInputArguments()));
        cmd.add("-cp");
        cmd.add(classPath(mainClass));
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }

    /**
     * This JVM's class path, with the jar or folder that holds {@code mainClass} in front when it is not on it:
     * a Spark executor loads the application's jar in a class loader of its own, not from its class path.
     */
    static String classPath(String mainClass) {
        String cp = System.getProperty("java.class.path");
        try {
            var source = Class.forName(mainClass).getProtectionDomain().getCodeSource();
            if (source != null) {
                String own = Path.of(source.getLocation().toURI()).toString();
                if (!Arrays.asList(cp.split(File.pathSeparator)).contains(own)) {
                    return own + File.pathSeparator + cp;
                }
            }
        } catch (ReflectiveOperationException | URISyntaxException | RuntimeException e) {
            // the class path alone, as before
        }
        return cp;
    }

    static String javaExecutable() {
        return ProcessHandle.current().info().command()
                .orElseGet(() -> Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    /**
     * The parent's JVM flags minus a debugger agent: a second JVM listening on the same JDWP port would fail to
     * start (or suspend, waiting for a debugger that never comes).
     */
    static List<String> jvmFlags(List<String> inputArguments) {
        List<String> flags = new ArrayList<>();
        for (String a : inputArguments) {
            if (a.startsWith("-agentlib:jdwp") || a.startsWith("-Xrunjdwp") || a.equals("-Xdebug")) {
                continue;
            }
            flags.add(a);
        }
        return flags;
    }
}

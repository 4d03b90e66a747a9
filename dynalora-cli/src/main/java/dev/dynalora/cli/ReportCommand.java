package dev.dynalora.cli;

import dev.dynalora.UserInputException;
import dev.dynalora.cli.report.Comparability;
import dev.dynalora.cli.report.HtmlReport;
import dev.dynalora.cli.report.RunData;
import dev.dynalora.cli.report.RunReader;
import dev.dynalora.formats.AtomicFiles;
import dev.dynalora.training.RunFolder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * dynalora report: one self-contained HTML file (charts and a summary table) of one run folder, or of several
 * overlaid for comparison. Every run is read and checked before anything is written; the file is written
 * atomically and an existing file is only replaced with --overwrite.
 */
@Command(name = "report", mixinStandardHelpOptions = true,
        description = "Write an HTML report (loss, learning rate, dev metrics, rank allocation, summary) of one or more runs.")
final class ReportCommand implements Callable<Integer> {
    static final String DEFAULT_NAME = "report.html";

    @Option(names = "--run", required = true, paramLabel = "RUN_DIR",
            description = "Run folder written by dynalora train; repeat to overlay several runs.")
    List<Path> runs;

    @Option(names = "--out", paramLabel = "FILE.html",
            description = "Report to write. Default: RUN_DIR/" + DEFAULT_NAME + " for one run; required for several.")
    Path out;

    @Option(names = "--overwrite", description = "Replace an existing report file.")
    boolean overwrite;

    @Override
    public Integer call() {
        if (runs.size() > 1 && out == null) {
            throw new UserInputException("--out is required when several --run folders are given");
        }
        Set<Path> seen = new HashSet<>();
        for (Path r : runs) {
            if (!seen.add(r.toAbsolutePath().normalize())) {
                throw new UserInputException("run folder " + r + " is given twice");
            }
        }
        Path target = out != null ? out : runs.get(0).resolve(DEFAULT_NAME);
        List<RunData> data = new ArrayList<>();
        for (Path r : runs) {
            data.add(RunReader.read(r));
        }
        if (Files.isDirectory(target)) {
            throw new UserInputException("--out " + target + " is a folder; give a file name such as " + target.resolve(DEFAULT_NAME));
        }
        List<Path> runFiles = new ArrayList<>();
        for (Path r : runs) {
            for (String f : RunFolder.FILES) {
                runFiles.add(r.resolve(f));
            }
        }
        OutputFile.check("--out", target, overwrite, HtmlReport.GENERATOR, "a report", runFiles.toArray(new Path[0]));
        String note = Comparability.note(data);
        if (note != null) {
            System.err.println("dynalora: note: " + note);
        }
        String html = HtmlReport.render(data);
        AtomicFiles.writeString(target, html);
        System.out.println(target);
        return 0;
    }
}

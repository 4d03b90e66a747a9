package dev.dynalora;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The library speaks in configuration terms: no string in its sources names a command-line flag
 * ({@code --lr}) or a dynalora command. A message that needs a setting names it with {@link Setting}, which
 * each front end renders its own way (the CLI: dev.dynalora.cli.SettingFlags).
 */
class CoreNamesNoFlagsTest {
    /** A string literal (text blocks are read line by line, which is enough to find a flag in one). */
    private static final Pattern STRING = Pattern.compile("\"(?:[^\"\\\\\\n]|\\\\.)*\"");
    private static final Pattern FLAG = Pattern.compile("(?<![\\w-])--[a-z][a-z-]*|\\bdynalora (?:train|eval|predict|generate|merge|bench|embed|info|report)\\b");

    @Test
    void noStringInTheLibraryNamesACliFlag() throws IOException {
        Path src = Path.of("src/main/java");
        assertTrue(Files.isDirectory(src), "run from the dynalora-core module: " + src.toAbsolutePath());
        List<String> found = new ArrayList<>();
        int files = 0;
        try (Stream<Path> s = Files.walk(src)) {
            for (Path f : s.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
                files++;
                List<String> lines = Files.readAllLines(f);
                for (int i = 0; i < lines.size(); i++) {
                    String code = lines.get(i).strip();
                    if (code.startsWith("*") || code.startsWith("/*") || code.startsWith("//")) {
                        continue; // comments may describe how front ends render settings
                    }
                    Matcher lit = STRING.matcher(code);
                    while (lit.find()) {
                        Matcher flag = FLAG.matcher(lit.group());
                        if (flag.find()) {
                            found.add(src.relativize(f) + ":" + (i + 1) + ": " + flag.group() + " in " + lit.group());
                        }
                    }
                }
            }
        }
        assertTrue(files > 100, "read only " + files + " files");
        assertTrue(found.isEmpty(), "the library names CLI flags; name the setting with dev.dynalora.Setting instead:\n"
                + String.join("\n", found));
    }

    @Test
    void theScanFindsAFlag() {
        Matcher lit = STRING.matcher("throw new UserInputException(\"--max-len must be at least 8\");");
        assertTrue(lit.find() && FLAG.matcher(lit.group()).find());
        Matcher cmd = STRING.matcher("return \"dynalora train --resume\";");
        assertTrue(cmd.find() && FLAG.matcher(cmd.group()).find());
    }
}

package dev.dynalora.fuzz;

import dev.dynalora.adapters.LoraConfig;
import dev.dynalora.formats.SafetensorsWriter;
import dev.dynalora.models.LinearModule;
import dev.dynalora.formats.peft.PeftAdapters;
import dev.dynalora.formats.peft.PeftFiles;
import dev.dynalora.models.bert.SequenceClassifier;
import dev.dynalora.tensor.Param;
import dev.dynalora.tensor.Tensor;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes the seed corpora of the fuzz tests: small valid inputs that show the fuzzer what each format looks
 * like. Run from dynalora-core (docs/fuzzing.md has the command); it (re)writes the {@code seed-*} files under
 * {@code src/test/resources/dev/dynalora/fuzz/<Class>Inputs/<method>/} and leaves findings ({@code crash-*}
 * files) alone.
 */
public final class FuzzSeeds {
    private FuzzSeeds() {
    }

    public static void main(String[] args) throws IOException {
        Path root = Path.of(args.length > 0 ? args[0] : "src/test/resources/dev/dynalora/fuzz");

        // --- safetensors
        Map<String, byte[]> st = new LinkedHashMap<>();
        st.put("f32", safetensors("{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                + "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[24,24]},"
                + "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]}}", 28));
        st.put("dtypes", safetensors("{"
                + "\"f16\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                + "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},"
                + "\"f64\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]},"
                + "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]},"
                + "\"u64\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[24,32]},"
                + "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[32,40]},"
                + "\"u32\":{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[40,44]},"
                + "\"i16\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[44,46]},"
                + "\"u16\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[46,48]},"
                + "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[48,50]},"
                + "\"i8\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[50,51]},"
                + "\"b\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[51,52]},"
                + "\"e4m3\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[52,53]},"
                + "\"e5m2\":{\"dtype\":\"F8_E5M2\",\"shape\":[1],\"data_offsets\":[53,54]},"
                + "\"e8m0\":{\"dtype\":\"F8_E8M0\",\"shape\":[1],\"data_offsets\":[54,55]},"
                + "\"overlap\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]}}", 56));
        st.put("c64", safetensors("{\"z\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8));
        st.put("empty-header", safetensors("{}", 0));
        for (Map.Entry<String, byte[]> e : st.entrySet()) {
            write(root.resolve("SafetensorsFuzzTestInputs/file/seed-" + e.getKey()), e.getValue());
            write(root.resolve("SafetensorsFuzzTestInputs/header/seed-" + e.getKey()), splitForm(e.getValue()));
        }

        // --- config.json
        write(root.resolve("ModelConfigFuzzTestInputs/parse/seed-bert.json"), utf8("""
                {"model_type": "bert", "vocab_size": 40, "hidden_size": 8, "num_hidden_layers": 2,
                 "num_attention_heads": 2, "intermediate_size": 12, "hidden_act": "gelu",
                 "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 16,
                 "type_vocab_size": 2, "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
                 "position_embedding_type": "absolute", "architectures": ["BertForSequenceClassification"],
                 "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "torch_dtype": "float32"}
                """));
        write(root.resolve("ModelConfigFuzzTestInputs/parse/seed-llama.json"), utf8("""
                {"model_type": "llama", "vocab_size": 32, "hidden_size": 16, "num_hidden_layers": 1,
                 "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 24,
                 "hidden_act": "silu", "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
                 "rope_theta": 10000.0, "tie_word_embeddings": false, "pad_token_id": null}
                """));
        write(root.resolve("ModelConfigFuzzTestInputs/parse/seed-minimal.json"), utf8(
                "{\"model_type\":\"bert\",\"vocab_size\":5,\"hidden_size\":4.0,\"num_hidden_layers\":1,"
                        + "\"num_attention_heads\":1,\"intermediate_size\":4}"));

        // --- GLUE TSV: first byte selects the case of GlueReaderFuzzTest.CASES
        String[] tsv = {
                "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"
                        + "gj04\t0\t*\tOne more pseudo generalization and I'm giving up.\n",
                "sentence\tlabel\nit 's a charming and often affecting journey . \t1\nunflinchingly bleak \t0\n",
                "\uFEFFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                        + "1\t702876\t702977\tAmrozi accused his brother.\tReferring to him, he said \"Amrozi.\n",
                "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
                        + "0\tmain-captions\tMSRvid\t2012test\t0000\tnone\tnone\tA man with a hard hat.\tA man is dancing.\t5.000\n"
                        + "1\tmain-captions\tMSRvid\t2012test\t0002\tnone\tnone\tA young child.\tA child rides.\t4.75\n",
                "index\tquestion\tsentence\n0\tWhat is it?\tIt is a thing.\n1\tWho?\tNobody.\n",
                "index\tpromptID\tpairID\tgenre\ts1b\ts2b\ts1p\ts2p\tsentence1\tsentence2\tl1\tl2\tl3\tl4\tl5\tgold_label\n"
                        + "0\t63735\t63735n\tslate\t(\t(\t(\t(\tThe new rights.\tEveryone loves them.\tneutral\tentailment"
                        + "\tneutral\tneutral\tneutral\tneutral\n",
                "index\tsentence1\tsentence2\tlabel\n0\tNo weapons found.\tWeapons found.\tnot_entailment\n"
                        + "1\tA place.\tA place exists.\tentailment\n\n",
                "index\tsentence\n0\tuneasy mishmash of styles\n1\tthis film 's relationship\n",
        };
        for (int i = 0; i < tsv.length; i++) {
            byte[] body = utf8(tsv[i]);
            byte[] in = new byte[body.length + 1];
            in[0] = (byte) i;
            System.arraycopy(body, 0, in, 1, body.length);
            write(root.resolve("GlueReaderFuzzTestInputs/readFile/seed-" + i + ".tsv"), in);
        }

        // --- PEFT adapter folders
        Path tmp = Files.createTempDirectory("dynalora-seeds");
        Path lora = tmp.resolve("lora");
        SequenceClassifier adapted = PeftAdapterFuzzTest.adaptedModel();
        PeftAdapters.save(lora, adapted, LoraConfig.of(2, 4f, "query,value", false, 0.1f, 1), "tiny", null);
        byte[] loraCfg = Files.readAllBytes(lora.resolve(PeftFiles.CONFIG_FILE));
        byte[] loraW = Files.readAllBytes(lora.resolve(PeftFiles.WEIGHTS_FILE));
        write(root.resolve("PeftAdapterFuzzTestInputs/config/seed-lora.json"), loraCfg);
        byte[] regexCfg = utf8("""
                {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "lora_dropout": 0.0, "use_rslora": true,
                 "target_modules": ".*\\\\.(query|value)", "bias": "none", "use_dora": false,
                 "rank_pattern": {"layer.1.attention.self.value": 3, "bert.encoder.layer.0.+query": 2},
                 "alpha_pattern": {"value": 6.5}, "modules_to_save": ["classifier", "pooler"]}
                """);
        write(root.resolve("PeftAdapterFuzzTestInputs/config/seed-patterns.json"), regexCfg);
        write(root.resolve("PeftAdapterFuzzTestInputs/folder/seed-lora"), join(loraCfg, loraW));
        write(root.resolve("PeftAdapterFuzzTestInputs/folder/seed-patterns"), join(regexCfg, loraW));

        // AdaLoRA as PEFT saves it: lora_A [r, in], lora_E [r, 1], lora_B [out, r] per module; one module pruned.
        Map<String, Tensor> ada = new LinkedHashMap<>();
        for (LinearModule m : adapted.encoder().linearModules()) {
            if (!m.shortName().equals("query")) {
                continue;
            }
            int r = m.name().contains("layer.1") ? 0 : 2;
            String k = "base_model.model.bert." + m.name();
            ada.put(k + ".lora_A", filled(new int[] {r, m.in()}, 0.5f));
            ada.put(k + ".lora_E", filled(new int[] {r, 1}, 2f));
            ada.put(k + ".lora_B", filled(new int[] {m.out(), r}, 0.25f));
        }
        for (Param p : adapted.headParams()) {
            ada.put("base_model.model." + (p.name().startsWith("classifier.") ? "" : "bert.") + p.name(), p.value());
        }
        Path adaW = tmp.resolve("ada.safetensors");
        SafetensorsWriter.write(adaW, ada, Map.of("format", "pt"));
        byte[] adaCfg = utf8("""
                {"peft_type": "ADALORA", "r": 8, "init_r": 2, "target_r": 1, "lora_alpha": 32,
                 "target_modules": ["query"], "bias": "none",
                 "rank_pattern": {"base_model.model.bert.encoder.layer.0.attention.self.query.lora_E": [true, true],
                                  "base_model.model.bert.encoder.layer.1.attention.self.query.lora_E": [false, false]}}
                """);
        write(root.resolve("PeftAdapterFuzzTestInputs/config/seed-adalora.json"), adaCfg);
        write(root.resolve("PeftAdapterFuzzTestInputs/folder/seed-adalora"), join(adaCfg, Files.readAllBytes(adaW)));
    }

    private static Tensor filled(int[] shape, float v) {
        float[] d = new float[(int) Tensor.numel(shape)];
        java.util.Arrays.fill(d, v);
        return new Tensor(shape, d);
    }

    private static byte[] safetensors(String header, int dataBytes) {
        byte[] h = utf8(header);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        for (int i = 0; i < dataBytes; i++) {
            b.put((byte) (i * 37 + 11));
        }
        return b.array();
    }

    /** A whole safetensors file as SafetensorsFuzzTest#header takes it: header JSON, a 0 byte, the data. */
    private static byte[] splitForm(byte[] file) {
        int n = (int) ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(file, 8, n);
        out.write(0);
        out.write(file, 8 + n, file.length - 8 - n);
        return out.toByteArray();
    }

    private static byte[] join(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + 1 + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length + 1, b.length);
        return out;
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static void write(Path p, byte[] bytes) throws IOException {
        Files.createDirectories(p.getParent());
        Files.write(p, bytes);
    }
}

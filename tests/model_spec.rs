use wgnn::layers::{BatchNorm, Conv2D, Dropout, MaxPool2D};
use wgnn::model::{
    preset, resolve, Activation, Layer, ModelSpec, OptimizerKind, Padding, TrainDefaults,
    Validation, PRESETS,
};
use wgnn::ops::augment::Augment;
use wgnn::train::Schedule;

fn spec(layers: Vec<Layer>) -> ModelSpec {
    ModelSpec {
        name: "t".into(),
        input: [28, 28, 1],
        layers,
        defaults: TrainDefaults::default(),
    }
}

fn model_err(layers: Vec<Layer>) -> String {
    spec(layers).infer().unwrap_err().to_string()
}

#[test]
fn preset_parameter_counts_match_keras() {
    let expected = [
        ("convnet", 34_826, 34_826),
        ("cnn", 121_930, 121_930),
        ("cnn-dropout", 121_930, 121_930),
        ("cnn-bn", 122_570, 122_250),
        ("shallow", 347_146, 347_146),
        ("tiny", 27_562, 27_562),
        ("deep", 93_322, 93_322),
        ("fast", 35_338, 35_338),
        ("best", 185_482, 185_034),
    ];
    assert_eq!(PRESETS.len(), expected.len());
    for (name, total, trainable) in expected {
        assert!(PRESETS.contains(&name));
        let m = preset(name).unwrap();
        assert_eq!(m.name, name);
        assert_eq!(m.input, [28, 28, 1]);
        assert_eq!(m.param_counts().unwrap(), (total, trainable), "{name}");
        assert_eq!(m.classes().unwrap(), 10, "{name}");
    }
}

#[test]
fn preset_defaults() {
    let d = preset("convnet").unwrap().defaults;
    assert_eq!(d.optimizer, OptimizerKind::Adam);
    assert_eq!((d.lr, d.batch_size, d.epochs), (0.001, 128, 15));
    assert_eq!(d.validation, Validation::Split(0.1));
    for n in ["cnn", "cnn-dropout", "cnn-bn"] {
        let d = preset(n).unwrap().defaults;
        assert_eq!(d.optimizer, OptimizerKind::Adam);
        assert_eq!((d.lr, d.batch_size, d.epochs), (0.001, 32, 10));
        assert_eq!(d.validation, Validation::LastN(10_000));
    }
    for n in ["shallow", "tiny"] {
        let d = preset(n).unwrap().defaults;
        assert_eq!(d.optimizer, OptimizerKind::Adam);
        assert_eq!((d.batch_size, d.epochs), (128, 10));
        assert_eq!(d.validation, Validation::Split(0.2));
    }
    let d = preset("deep").unwrap().defaults;
    assert_eq!(d.optimizer, OptimizerKind::Rmsprop);
    assert_eq!((d.lr, d.batch_size, d.epochs), (0.001, 64, 8));
    assert_eq!(d.validation, Validation::Split(0.1));
    // The notebooks' presets train as before: constant rate, nothing else.
    for n in [
        "convnet",
        "cnn",
        "cnn-dropout",
        "cnn-bn",
        "shallow",
        "tiny",
        "deep",
    ] {
        let d = preset(n).unwrap().defaults;
        assert_eq!(d.schedule, Schedule::Constant, "{n}");
        assert_eq!(d.warmup_epochs, 0.0, "{n}");
        assert_eq!((d.weight_decay, d.label_smoothing), (0.0, 0.0), "{n}");
        assert_eq!(d.augment, None, "{n}");
    }
    let d = preset("fast").unwrap().defaults;
    assert_eq!(d.optimizer, OptimizerKind::Adam);
    assert_eq!((d.lr, d.batch_size, d.epochs), (0.02, 128, 1));
    assert_eq!(d.validation, Validation::Split(0.1));
    assert_eq!(d.schedule, Schedule::OneCycle { max_lr: None });
    assert_eq!(d.label_smoothing, 0.1);
    assert_eq!(d.augment, None);
    let d = preset("best").unwrap().defaults;
    assert_eq!(d.optimizer, OptimizerKind::Adam);
    assert_eq!((d.lr, d.batch_size, d.epochs), (0.005, 128, 30));
    assert_eq!(d.validation, Validation::Split(0.1));
    assert_eq!(d.schedule, Schedule::OneCycle { max_lr: None });
    assert_eq!((d.weight_decay, d.label_smoothing), (0.0, 0.1));
    assert_eq!(
        d.augment,
        Some(Augment {
            shift: 2.0,
            rotate: 8.0,
            scale: 0.08
        })
    );
}

#[test]
fn preset_shapes_of_fast_and_best() {
    let shapes = |n: &str| -> Vec<Vec<usize>> {
        let infos = preset(n).unwrap().infer().unwrap();
        infos.into_iter().map(|l| l.output_shape).collect()
    };
    assert_eq!(
        shapes("fast"),
        vec![
            vec![24, 24, 32],
            vec![12, 12, 32],
            vec![10, 10, 64],
            vec![5, 5, 64],
            vec![1600],
            vec![10],
        ]
    );
    assert_eq!(
        shapes("best"),
        vec![
            vec![24, 24, 32],
            vec![24, 24, 32],
            vec![12, 12, 32],
            vec![8, 8, 64],
            vec![8, 8, 64],
            vec![4, 4, 64],
            vec![1024],
            vec![128],
            vec![128],
            vec![128],
            vec![10],
        ]
    );
}

#[test]
fn unknown_preset_lists_presets() {
    let e = preset("resnet").unwrap_err().to_string();
    assert!(e.contains("resnet"), "{e}");
    for p in PRESETS {
        assert!(e.contains(p), "{e}");
    }
    assert!(resolve("nonexistent.toml")
        .unwrap_err()
        .to_string()
        .contains("nonexistent.toml"));
    assert_eq!(resolve("tiny").unwrap(), preset("tiny").unwrap());
}

#[test]
fn infer_shapes_and_names() {
    let infos = preset("cnn-bn").unwrap().infer().unwrap();
    let names: Vec<&str> = infos.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "conv2d",
            "batch_normalization",
            "max_pooling2d",
            "conv2d_1",
            "batch_normalization_1",
            "max_pooling2d_1",
            "flatten",
            "dense",
            "batch_normalization_2",
            "dense_1"
        ]
    );
    assert_eq!(infos[0].kind, "Conv2D");
    assert_eq!(infos[0].input_shape, vec![28, 28, 1]);
    assert_eq!(infos[0].output_shape, vec![26, 26, 32]);
    assert_eq!(infos[0].params, 320);
    assert_eq!((infos[1].params, infos[1].trainable), (128, 64));
    assert_eq!(infos[2].output_shape, vec![13, 13, 32]);
    assert_eq!(infos[3].output_shape, vec![11, 11, 64]);
    assert_eq!(infos[5].output_shape, vec![5, 5, 64]);
    assert_eq!(infos[6].output_shape, vec![1600]);
    assert_eq!(infos[7].params, 102_464);
    assert_eq!(infos[9].output_shape, vec![10]);
    let deep = preset("deep").unwrap().infer().unwrap();
    assert_eq!(deep[4].output_shape, vec![3, 3, 64]);
    assert_eq!(deep[5].output_shape, vec![576]);
}

#[test]
fn same_padding_and_strides() {
    let m = spec(vec![
        Layer::Conv2D(Conv2D {
            filters: 4,
            kernel: [3, 3],
            strides: [2, 2],
            padding: Padding::Same,
            activation: Activation::Relu,
        }),
        Layer::Conv2D(Conv2D {
            filters: 4,
            kernel: [5, 3],
            strides: [2, 1],
            padding: Padding::Valid,
            activation: Activation::Relu,
        }),
        Layer::MaxPool2D(MaxPool2D {
            pool: [3, 3],
            strides: [2, 2],
            padding: Padding::Valid,
        }),
        Layer::flatten(),
        Layer::dense(3, Activation::Linear),
        Layer::Activation(Activation::Softmax),
    ]);
    let infos = m.infer().unwrap();
    assert_eq!(infos[0].output_shape, vec![14, 14, 4]); // ceil(28/2)
    assert_eq!(infos[1].output_shape, vec![5, 12, 4]); // (14-5)/2+1, (14-3)/1+1
    assert_eq!(infos[1].params, 5 * 3 * 4 * 4 + 4);
    assert_eq!(infos[2].output_shape, vec![2, 5, 4]); // (5-3)/2+1, (12-3)/2+1
    assert_eq!(infos[3].output_shape, vec![40]);
    assert_eq!(m.classes().unwrap(), 3);
    assert_eq!(infos[5].name, "activation");
}

#[test]
fn convnet_summary_text() {
    let s = preset("convnet").unwrap().summary().unwrap();
    let expected = r#"Model: "convnet"
____________________________________________________________________
 Layer (type)                     Output Shape               Param #
====================================================================
 conv2d (Conv2D)                  (None, 26, 26, 32)             320
 max_pooling2d (MaxPooling2D)     (None, 13, 13, 32)               0
 conv2d_1 (Conv2D)                (None, 11, 11, 64)          18,496
 max_pooling2d_1 (MaxPooling2D)   (None, 5, 5, 64)                 0
 flatten (Flatten)                (None, 1600)                     0
 dropout (Dropout)                (None, 1600)                     0
 dense (Dense)                    (None, 10)                  16,010
====================================================================
Total params: 34,826 (136.04 KB)
Trainable params: 34,826 (136.04 KB)
Non-trainable params: 0 (0 B)
____________________________________________________________________
"#;
    assert_eq!(s, expected, "\n{s}");
}

#[test]
fn bn_summary_shows_non_trainable() {
    let s = preset("cnn-bn").unwrap().summary().unwrap();
    assert!(s.contains("Total params: 122,570"), "{s}");
    assert!(s.contains("Trainable params: 122,250"), "{s}");
    assert!(s.contains("Non-trainable params: 320"), "{s}");
}

#[test]
fn toml_round_trip_all_presets() {
    for p in PRESETS {
        let m = preset(p).unwrap();
        let text = m.to_toml();
        let back = ModelSpec::from_toml_str(&text, "roundtrip.toml").unwrap();
        assert_eq!(back, m, "{p}:\n{text}");
    }
    // Settings left off are not written, so the notebooks' presets read as they always did.
    for p in [
        "convnet",
        "cnn",
        "cnn-dropout",
        "cnn-bn",
        "shallow",
        "tiny",
        "deep",
    ] {
        let text = preset(p).unwrap().to_toml();
        for key in [
            "schedule",
            "warmup_epochs",
            "weight_decay",
            "label_smoothing",
            "augment",
        ] {
            assert!(!text.contains(key), "{p}: {key} in\n{text}");
        }
    }
    let text = preset("best").unwrap().to_toml();
    assert!(text.contains("schedule = \"onecycle\"\n"), "{text}");
    assert!(text.contains("label_smoothing = 0.1\n"), "{text}");
    assert!(
        text.contains("augment = \"shift=2,rotate=8,scale=0.08\"\n"),
        "{text}"
    );
    let mut m = preset("cnn-bn").unwrap();
    m.defaults.schedule = Schedule::Step {
        every: 2.0,
        gamma: 0.5,
    };
    m.defaults.warmup_epochs = 0.3;
    m.defaults.weight_decay = 1e-4;
    m.defaults.label_smoothing = 0.1;
    m.defaults.ema = Some(0.999);
    assert!(m.to_toml().contains("ema = 0.999\n"));
    assert_eq!(ModelSpec::from_toml_str(&m.to_toml(), "x").unwrap(), m);
    let mut m = preset("cnn-bn").unwrap();
    m.layers.insert(0, Layer::Dropout(Dropout { rate: 0.1 }));
    m.defaults.lr = 3e-4;
    m.defaults.optimizer = OptimizerKind::Sgd;
    assert_eq!(ModelSpec::from_toml_str(&m.to_toml(), "x").unwrap(), m);
}

#[test]
fn toml_parses_documented_example() {
    let text = r#"
name = "small"
input = [28, 28, 1]
[train]
optimizer = "rmsprop"
learning_rate = 0.01
batch_size = 64
validation_last = 5000
[[layers]]
type = "conv2d"
filters = 16
kernel_size = [3, 5]
strides = 1
padding = "same"
activation = "relu"
[[layers]]
type = "max_pooling2d"
pool_size = 2
[[layers]]
type = "batch_normalization"
[[layers]]
type = "flatten"
[[layers]]
type = "dropout"
rate = 0.25
[[layers]]
type = "dense"
units = 10
activation = "softmax"
"#;
    let m = ModelSpec::from_toml_str(text, "small.toml").unwrap();
    assert_eq!(m.name, "small");
    assert_eq!(m.defaults.optimizer, OptimizerKind::Rmsprop);
    assert_eq!(m.defaults.lr, 0.01);
    assert_eq!(m.defaults.batch_size, 64);
    assert_eq!(m.defaults.epochs, 10);
    assert_eq!(m.defaults.validation, Validation::LastN(5000));
    assert_eq!(
        m.layers[0],
        Layer::Conv2D(Conv2D {
            filters: 16,
            kernel: [3, 5],
            strides: [1, 1],
            padding: Padding::Same,
            activation: Activation::Relu
        })
    );
    assert_eq!(m.layers[1], Layer::maxpool(2));
    assert_eq!(m.layers[2], Layer::batchnorm());
    let infos = m.infer().unwrap();
    assert_eq!(infos[0].output_shape, vec![28, 28, 16]);
    assert_eq!(infos[3].output_shape, vec![14 * 14 * 16]);
}

#[test]
fn toml_defaults_when_train_missing() {
    let m = ModelSpec::from_toml_str(
        "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 2\nactivation = \"softmax\"\n",
        "dir/mini.toml",
    )
    .unwrap();
    assert_eq!(m.name, "mini");
    assert_eq!(m.input, [28, 28, 1]);
    assert_eq!(m.defaults, TrainDefaults::default());
    assert_eq!(m.param_counts().unwrap(), (784 * 2 + 2, 784 * 2 + 2));
}

#[test]
fn example_file_loads() {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/models/small.toml");
    let m = ModelSpec::from_toml_file(&p).unwrap();
    assert_eq!(m.name, "small");
    assert!(m.param_counts().unwrap().0 > 0);
    assert_eq!(resolve(p.to_str().unwrap()).unwrap(), m);
}

fn toml_err(body: &str) -> String {
    ModelSpec::from_toml_str(body, "examples/bad.toml")
        .unwrap_err()
        .to_string()
}

const TAIL: &str = "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nunits = 10\nactivation = \"softmax\"\n";

#[test]
fn toml_errors_name_layer_and_field() {
    let e = toml_err(
        "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nactivation = \"softmax\"\n",
    );
    assert_eq!(
        e,
        "examples/bad.toml: layer 2 (dense): missing field \"units\""
    );

    let e = toml_err(&format!(
        "[[layers]]\ntype = \"conv3d\"\nfilters = 3\n{TAIL}"
    ));
    assert!(
        e.starts_with("examples/bad.toml: layer 1 (conv3d): unknown layer type \"conv3d\""),
        "{e}"
    );

    let e = toml_err(&format!(
        "[[layers]]\ntype = \"conv2d\"\nfilters = 3\nkernel_size = 3\nfilter = 4\n{TAIL}"
    ));
    assert!(
        e.starts_with("examples/bad.toml: layer 1 (conv2d): unknown field \"filter\""),
        "{e}"
    );

    let e = toml_err(&format!(
        "[[layers]]\ntype = \"conv2d\"\nfilters = \"many\"\nkernel_size = 3\n{TAIL}"
    ));
    assert!(
        e.contains("layer 1 (conv2d): field \"filters\" must be an integer, got a string"),
        "{e}"
    );

    let e = toml_err(&format!(
        "[[layers]]\ntype = \"conv2d\"\nfilters = -2\nkernel_size = 3\n{TAIL}"
    ));
    assert!(
        e.contains("layer 1 (conv2d)") && e.contains("non-negative"),
        "{e}"
    );

    let e = toml_err(&format!(
        "[[layers]]\ntype = \"conv2d\"\nfilters = 2\nkernel_size = [3, 3, 3]\n{TAIL}"
    ));
    assert!(
        e.contains("layer 1 (conv2d)") && e.contains("kernel_size"),
        "{e}"
    );

    let e = toml_err(&format!("[[layers]]\ntype = \"conv2d\"\nfilters = 2\nkernel_size = 3\nactivation = \"gelu\"\n{TAIL}"));
    assert!(
        e.contains("layer 1 (conv2d)") && e.contains("unknown activation \"gelu\""),
        "{e}"
    );

    let e = toml_err(&format!("[[layers]]\nfilters = 2\n{TAIL}"));
    assert!(e.contains("layer 1: missing field \"type\""), "{e}");

    let e = toml_err(&format!("[[layers]]\ntype = 3\n{TAIL}"));
    assert!(
        e.contains("layer 1: field \"type\" must be a string, got an integer"),
        "{e}"
    );

    let e = toml_err("layers = [{ type = \"flatten\" }, 7]\n");
    assert!(
        e.contains("layer 2: must be a table, got an integer"),
        "{e}"
    );

    let e = toml_err(&format!("input = [28, 28]\n{TAIL}"));
    assert!(
        e.contains("field \"input\" must be an array [height, width, channels] of 3 integers"),
        "{e}"
    );

    let e = toml_err(&format!("colour = \"red\"\n{TAIL}"));
    assert!(e.contains("unknown field \"colour\""), "{e}");

    let e = toml_err(&format!("[train]\noptimizer = \"adagrad\"\n{TAIL}"));
    assert!(e.contains("[train]") && e.contains("adagrad"), "{e}");

    let e = toml_err(&format!("[train]\nepochz = 3\n{TAIL}"));
    assert!(e.contains("[train]: unknown field \"epochz\""), "{e}");
    for (body, needle) in [
        ("schedule = \"linear\"", "field \"schedule\""),
        ("augment = \"blur=2\"", "field \"augment\""),
        (
            "weight_decay = -1",
            "field \"weight_decay\" -1 must be a number >= 0",
        ),
        (
            "label_smoothing = 1.5",
            "field \"label_smoothing\" 1.5 must be in [0, 1)",
        ),
        (
            "ema = 1.5",
            "field \"ema\": the weights' moving average takes a momentum in [0, 1)",
        ),
        (
            "warmup_epochs = \"one\"",
            "field \"warmup_epochs\" must be a number",
        ),
    ] {
        let e = toml_err(&format!("[train]\n{body}\n{TAIL}"));
        assert!(e.contains("[train]") && e.contains(needle), "{body}: {e}");
    }

    let e = toml_err("name = \"x\"\n");
    assert!(e.contains("missing [[layers]]"), "{e}");

    let e = toml_err("name = \n");
    assert!(e.starts_with("examples/bad.toml: invalid TOML"), "{e}");

    // Semantic errors are reported with the file and layer too.
    let e = toml_err(&format!("[[layers]]\ntype = \"dense\"\nunits = 4\n{TAIL}"));
    assert!(
        e.starts_with("examples/bad.toml: model: layer 1 (dense): Dense needs a flat input"),
        "{e}"
    );
}

#[test]
fn bad_models_name_the_layer() {
    use Activation::*;
    // Kernel larger than its input (the example in the docs).
    let e = model_err(vec![
        Layer::conv(8, 3, Relu),
        Layer::maxpool(2),
        Layer::conv(8, 3, Relu),
        Layer::maxpool(2),
        Layer::conv(8, 3, Relu),
        Layer::maxpool(2),
        Layer::conv(8, 3, Relu),
        Layer::flatten(),
        Layer::dense(10, Softmax),
    ]);
    assert_eq!(
        e,
        "model: layer 7 (conv2d_3): kernel 3x3 is larger than its 1x1 input"
    );

    let e = model_err(vec![
        Layer::conv(8, 3, Relu),
        Layer::maxpool(2),
        Layer::maxpool(2),
        Layer::maxpool(2),
        Layer::Conv2D(Conv2D {
            filters: 4,
            kernel: [5, 2],
            strides: [1, 1],
            padding: Padding::Valid,
            activation: Relu,
        }),
        Layer::flatten(),
        Layer::dense(10, Softmax),
    ]);
    assert_eq!(
        e,
        "model: layer 5 (conv2d_1): kernel 5x2 is larger than its 3x3 input"
    );
}

#[test]
fn more_bad_models() {
    use Activation::*;
    let tail = || vec![Layer::flatten(), Layer::dense(10, Softmax)];
    let with = |mut v: Vec<Layer>| {
        v.extend(tail());
        model_err(v)
    };
    let e = with(vec![Layer::conv(0, 3, Relu)]);
    assert!(
        e.contains("layer 1 (conv2d)") && e.contains("filters"),
        "{e}"
    );
    let e = with(vec![Layer::conv(4, 0, Relu)]);
    assert!(
        e.contains("layer 1 (conv2d)") && e.contains("kernel 0x0"),
        "{e}"
    );
    let e = with(vec![Layer::Conv2D(Conv2D {
        filters: 4,
        kernel: [3, 3],
        strides: [0, 1],
        padding: Padding::Valid,
        activation: Relu,
    })]);
    assert!(
        e.contains("layer 1 (conv2d)") && e.contains("strides 0x1"),
        "{e}"
    );
    let e = with(vec![Layer::Dropout(Dropout { rate: 1.0 })]);
    assert!(
        e.contains("layer 1 (dropout)") && e.contains("[0, 1)"),
        "{e}"
    );
    let e = with(vec![Layer::Dropout(Dropout { rate: -0.1 })]);
    assert!(e.contains("layer 1 (dropout)"), "{e}");
    let e = with(vec![Layer::MaxPool2D(MaxPool2D {
        pool: [2, 0],
        strides: [2, 2],
        padding: Padding::Same,
    })]);
    assert!(
        e.contains("layer 1 (max_pooling2d)") && e.contains("2x0"),
        "{e}"
    );
    let e = with(vec![Layer::maxpool(29)]);
    assert!(
        e.contains("layer 1 (max_pooling2d)") && e.contains("29x29"),
        "{e}"
    );
    let e = with(vec![Layer::BatchNorm(BatchNorm {
        momentum: 1.5,
        epsilon: 0.001,
    })]);
    assert!(e.contains("layer 1 (batch_normalization)"), "{e}");
    let e = with(vec![Layer::dense(0, Relu)]);
    assert!(
        e.contains("layer 1 (dense)") && e.contains("Flatten"),
        "{e}"
    );

    let e = model_err(vec![]);
    assert_eq!(e, "model: model has no layers");
    let e = model_err(vec![
        Layer::flatten(),
        Layer::conv(4, 3, Relu),
        Layer::dense(10, Softmax),
    ]);
    assert!(
        e.starts_with("model: layer 2 (conv2d): Conv2D needs an image input"),
        "{e}"
    );
    let e = model_err(vec![
        Layer::flatten(),
        Layer::maxpool(2),
        Layer::dense(10, Softmax),
    ]);
    assert!(e.starts_with("model: layer 2 (max_pooling2d)"), "{e}");
    let e = model_err(vec![Layer::flatten(), Layer::dense(0, Softmax)]);
    assert!(
        e.contains("layer 2 (dense): units must be at least 1"),
        "{e}"
    );
    let e = model_err(vec![Layer::flatten(), Layer::dense(10, Relu)]);
    assert!(
        e.contains("layer 2 (dense)") && e.contains("must end with a softmax"),
        "{e}"
    );
    let e = model_err(vec![Layer::flatten(), Layer::dense(1, Softmax)]);
    assert!(
        e.contains("layer 2 (dense)") && e.contains("at least 2"),
        "{e}"
    );
    let e = model_err(vec![
        Layer::conv(4, 3, Softmax),
        Layer::flatten(),
        Layer::dense(10, Softmax),
    ]);
    assert!(
        e.contains("layer 1 (conv2d)") && e.contains("softmax"),
        "{e}"
    );
    let e = model_err(vec![Layer::conv(4, 3, Relu), Layer::Activation(Softmax)]);
    assert!(
        e.contains("layer 2 (activation)") && e.contains("flat"),
        "{e}"
    );
    let mut m = spec(tail());
    m.input = [28, 0, 1];
    assert!(m
        .infer()
        .unwrap_err()
        .to_string()
        .contains("input shape 28x0x1"));
}

#[test]
fn optimizer_from_str_and_serde_names() {
    assert_eq!(
        "adam".parse::<OptimizerKind>().unwrap(),
        OptimizerKind::Adam
    );
    assert_eq!(
        "RMSprop".parse::<OptimizerKind>().unwrap(),
        OptimizerKind::Rmsprop
    );
    assert_eq!("sgd".parse::<OptimizerKind>().unwrap(), OptimizerKind::Sgd);
    let e = "adagrad".parse::<OptimizerKind>().unwrap_err().to_string();
    assert!(e.contains("adagrad") && e.contains("rmsprop"), "{e}");
    assert_eq!(
        serde_json::to_string(&OptimizerKind::Rmsprop).unwrap(),
        "\"rmsprop\""
    );
    assert_eq!(OptimizerKind::Adam.to_string(), "adam");
    let m = preset("cnn-bn").unwrap();
    assert_eq!(ModelSpec::from_toml_str(&m.to_toml(), "cnn-bn").unwrap(), m);
}

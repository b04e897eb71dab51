//! Writers of the file formats the data tests read back.

/// A `.npy` file (format 1.0) of `descr` with `shape` and raw little-endian `data`.
pub fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims = shape.iter().map(|d| format!("{d}, ")).collect::<String>();
    let dims = if shape.len() == 1 {
        dims
    } else {
        dims.trim_end_matches(", ").to_string()
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({dims}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

/// A `.npz` file (deflated, as `numpy.savez_compressed` writes it) of `.npy` arrays by name.
pub fn write_npz(path: &std::path::Path, arrays: &[(&str, Vec<u8>)]) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in arrays {
        z.start_file(format!("{name}.npy"), opts).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

/// CIFAR-10's six batch files (without the `.bin` of the binary layout).
pub const CIFAR10_BATCHES: [&str; 6] = [
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
];

/// Writes pickles the way Python does, for the opcodes CIFAR's batches use: protocol 2 (Python 2's
/// `str` for text and data), 3 (`bytes` data, `str` keys) or 5 (`bytearray` data through
/// `_frombuffer`, framed opcodes), as `pickle.dumps` writes each.
pub struct Pickle {
    pub out: Vec<u8>,
    protocol: u8,
    memo: u8,
}

impl Pickle {
    pub fn new(protocol: u8) -> Pickle {
        Pickle {
            out: vec![0x80, protocol],
            protocol,
            memo: 0,
        }
    }
    fn put(&mut self) {
        if self.protocol >= 4 {
            self.out.push(0x94);
        } else {
            self.out.extend([b'q', self.memo]);
            self.memo = self.memo.wrapping_add(1);
        }
    }
    pub fn text(&mut self, s: &str) {
        match self.protocol {
            2 => self.out.extend([b'U', s.len() as u8]),
            3 => {
                self.out.push(b'X');
                self.out.extend((s.len() as u32).to_le_bytes());
            }
            _ => self.out.extend([0x8c, s.len() as u8]),
        }
        self.out.extend(s.as_bytes());
        self.put();
    }
    pub fn int(&mut self, v: u32) {
        match v {
            0..=255 => self.out.extend([b'K', v as u8]),
            256..=65535 => {
                self.out.push(b'M');
                self.out.extend((v as u16).to_le_bytes());
            }
            _ => {
                self.out.push(b'J');
                self.out.extend((v as i32).to_le_bytes());
            }
        }
    }
    fn global(&mut self, module: &str, name: &str) {
        if self.protocol >= 4 {
            self.text(module);
            self.text(name);
            self.out.push(0x93);
        } else {
            self.out.push(b'c');
            self.out.extend(format!("{module}\n{name}\n").as_bytes());
        }
        self.put();
    }
    /// `numpy.dtype('u1')` with its state.
    fn dtype_u1(&mut self) {
        self.global("numpy", "dtype");
        self.text("u1");
        self.int(0);
        self.int(1);
        self.out.extend([0x87, b'R']);
        self.put();
        self.out.push(b'(');
        self.int(3);
        self.text("|");
        self.out.extend(b"NNN");
        self.out.push(b'J');
        self.out.extend((-1i32).to_le_bytes());
        self.out.push(b'J');
        self.out.extend((-1i32).to_le_bytes());
        self.int(0);
        self.out.extend([b't', b'b']);
    }
    /// `numpy.ndarray` of uint8 with `shape` holding `raw`, as numpy's `__reduce_ex__` pickles it.
    pub fn ndarray(&mut self, shape: [u32; 2], raw: &[u8]) {
        if self.protocol >= 5 {
            self.global("numpy._core.numeric", "_frombuffer");
            self.out.extend([b'(', 0x96]);
            self.out.extend((raw.len() as u64).to_le_bytes());
            self.out.extend(raw);
            self.put();
            self.dtype_u1();
            self.int(shape[0]);
            self.int(shape[1]);
            self.out.push(0x86);
            self.text("C");
            self.out.extend([b't', b'R']);
            return;
        }
        self.global("numpy.core.multiarray", "_reconstruct");
        self.global("numpy", "ndarray");
        self.int(0);
        self.out.push(0x85);
        self.text("b");
        self.out.extend([0x87, b'R']);
        self.put();
        self.out.push(b'(');
        self.int(1);
        self.int(shape[0]);
        self.int(shape[1]);
        self.out.push(0x86);
        self.dtype_u1();
        self.out.push(0x89);
        self.out.push(if self.protocol >= 3 { b'B' } else { b'T' });
        self.out.extend((raw.len() as u32).to_le_bytes());
        self.out.extend(raw);
        self.out.extend([b't', b'b']);
    }
    pub fn int_list(&mut self, v: &[u32]) {
        self.out.push(b']');
        self.put();
        self.out.push(b'(');
        for &x in v {
            self.int(x);
        }
        self.out.push(b'e');
    }
    pub fn str_list(&mut self, v: &[&str]) {
        self.out.push(b']');
        self.put();
        self.out.push(b'(');
        for s in v {
            self.text(s);
        }
        self.out.push(b'e');
    }
    pub fn dict(mut self, items: impl FnOnce(&mut Pickle)) -> Vec<u8> {
        self.out.push(b'}');
        self.put();
        self.out.push(b'(');
        items(&mut self);
        self.out.extend(b"u.");
        self.out
    }
}

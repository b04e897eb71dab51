//! A reader for the Python pickles that hold CIFAR's batches: it decodes the opcodes into a tree
//! of values and never runs anything. A class reference (`numpy.core.multiarray._reconstruct`)
//! and a call of it stay data (`Value::Global`, `Value::Call`), so a NumPy array is found as the
//! byte string inside its `BUILD` state (or, from protocol 5, the `bytearray` handed to
//! `_frombuffer`). Protocols 0 to 5 in the subset that dicts, lists, ints, strings, bytes and NumPy
//! arrays use; any other opcode is an error naming it.
//!
//! A pickle is a program, so a short one can ask for a lot: this reader bounds what it builds.
//! Values nest at most `MAX_DEPTH` deep (dropping a deeper tree would overflow the stack), and the
//! copies the memo makes (Python shares, this reader copies) add at most the file's own size plus
//! `COPY_ALLOWANCE`, so a memo that doubles itself is refused long before memory runs out.

use std::collections::HashMap;

use wgnn_engine::error::{Error, Result};

/// How deep values may nest: CIFAR's batches nest four deep, and Python's own limit is near 1,000.
pub const MAX_DEPTH: usize = 100;

/// The bytes of values that memo copies may add beyond the file's own size.
pub const COPY_ALLOWANCE: usize = 64 << 20;

/// A decoded pickle value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Python 2 `str` and Python 3 `bytes`.
    Bytes(Vec<u8>),
    Str(String),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A reference to `module.name` (a class or function), not resolved.
    Global(String, String),
    /// `callable(*args)`, not called.
    Call(Box<Value>, Box<Value>),
    /// `object.__setstate__(state)`, not applied.
    Build(Box<Value>, Box<Value>),
}

impl Value {
    /// The value under `key` in a dict whose keys are `str` or `bytes`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let Value::Dict(items) = self else {
            return None;
        };
        items.iter().find_map(|(k, v)| match k {
            Value::Str(s) if s == key => Some(v),
            Value::Bytes(b) if b == key.as_bytes() => Some(v),
            _ => None,
        })
    }

    /// The text of a `str`, or of `bytes` read as Latin-1 (what Python 2 strings are).
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Bytes(b) => Some(b.iter().map(|&c| char::from(c)).collect()),
            _ => None,
        }
    }

    /// The items of a list or tuple.
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// The shape and raw bytes of a pickled NumPy array in C order: `BUILD` of `_reconstruct`
    /// with the state `(version, shape, dtype, fortran_order, data)` (protocols 0 to 4), or
    /// `_frombuffer(data, dtype, shape, order)` (protocol 5, in-band).
    pub fn ndarray(&self) -> Option<(Vec<usize>, &[u8])> {
        match self {
            Value::Build(_, state) => {
                let s = state.items()?;
                let fortran = matches!(s.get(3), Some(Value::Bool(true)));
                array(s.get(1)?, s.get(4)?, fortran)
            }
            Value::Call(f, args) => {
                let Value::Global(module, name) = &**f else {
                    return None;
                };
                if !module.starts_with("numpy") || name != "_frombuffer" {
                    return None;
                }
                let a = args.items()?;
                let fortran = a.get(3)?.text()? != "C";
                array(a.get(2)?, a.first()?, fortran)
            }
            _ => None,
        }
    }

    /// What the value is, in words for a message (`the text "cat"`, `a call of posix.system`).
    pub fn describe(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => format!("the truth value {}", if *b { "True" } else { "False" }),
            Value::Int(n) => format!("the number {n}"),
            Value::Float(x) => format!("the number {x}"),
            Value::Bytes(b) => format!("a byte string of {} bytes", b.len()),
            Value::Str(s) => format!("the text \"{}\"", s.chars().take(40).collect::<String>()),
            Value::List(v) => format!("a list of {} items", v.len()),
            Value::Tuple(v) => format!("a tuple of {} items", v.len()),
            Value::Dict(v) => format!("a dict of {} items", v.len()),
            Value::Global(m, n) => format!("a reference to {m}.{n}"),
            Value::Call(f, _) => match &**f {
                Value::Global(m, n) => format!("a call of {m}.{n} (not run)"),
                _ => "a call (not run)".into(),
            },
            Value::Build(..) => "an object".into(),
        }
    }

    /// The values this one holds.
    fn children(&self) -> Vec<&Value> {
        match self {
            Value::List(v) | Value::Tuple(v) => v.iter().collect(),
            Value::Dict(v) => v.iter().flat_map(|(k, x)| [k, x]).collect(),
            Value::Call(a, b) | Value::Build(a, b) => vec![a, b],
            _ => Vec::new(),
        }
    }
}

/// The shape and bytes of an array in C order.
fn array<'a>(shape: &Value, data: &'a Value, fortran: bool) -> Option<(Vec<usize>, &'a [u8])> {
    let shape = shape
        .items()?
        .iter()
        .map(|d| match d {
            Value::Int(n) => usize::try_from(*n).ok(),
            _ => None,
        })
        .collect::<Option<Vec<usize>>>()?;
    match (data, fortran) {
        (Value::Bytes(b), false) => Some((shape, b)),
        _ => None,
    }
}

/// Refuses `v` inside a container when the two would nest past `MAX_DEPTH` (`level` is where `v`
/// would sit: 1 inside a container at the top).
fn check_depth(v: &Value, level: usize) -> Step {
    if level >= MAX_DEPTH {
        return Err(format!("values nested more than {MAX_DEPTH} deep"));
    }
    v.children()
        .into_iter()
        .try_for_each(|c| check_depth(c, level + 1))
}

/// The bytes `v` takes (its nodes and its strings), or `None` once past `cap`.
fn weight(v: &Value, cap: usize) -> Option<usize> {
    let own = std::mem::size_of::<Value>()
        + match v {
            Value::Bytes(b) => b.len(),
            Value::Str(s) => s.len(),
            Value::Global(m, n) => m.len() + n.len(),
            _ => 0,
        };
    let mut total = own;
    for c in v.children() {
        total = total.checked_add(weight(c, cap)?)?;
        if total > cap {
            return None;
        }
    }
    (total <= cap).then_some(total)
}

/// The stack machine's state: the value stack, the marks into it and the memo.
struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<usize, Value>,
    /// The bytes of values the memo may still copy.
    copies_left: usize,
}

/// Decodes the pickle in `bytes`; `what` names the file in errors.
pub fn parse(bytes: &[u8], what: &str) -> Result<Value> {
    let mut m = Machine {
        bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        copies_left: bytes.len().saturating_add(COPY_ALLOWANCE),
    };
    m.run()
        .map_err(|e| Error::msg(format!("{what}: not a readable pickle ({e})")))
}

type Step = std::result::Result<(), String>;

impl Machine<'_> {
    fn run(&mut self) -> std::result::Result<Value, String> {
        loop {
            let at = self.at;
            let op = self.take(1)?[0];
            if op == b'.' {
                return self.pop();
            }
            self.step(op)
                .map_err(|e| format!("opcode 0x{op:02x} at byte {at}: {e}"))?;
        }
    }

    fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| format!("the data ends at byte {}", self.bytes.len()))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn uint(&mut self, n: usize) -> std::result::Result<usize, String> {
        let b = self.take(n)?;
        let v = b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x));
        usize::try_from(v).map_err(|_| "a length too large".to_string())
    }

    fn line(&mut self) -> std::result::Result<String, String> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .position(|&c| c == b'\n')
            .ok_or("an unterminated line")?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(s)
    }

    fn pop(&mut self) -> std::result::Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "the stack is empty".to_string())
    }

    fn pop_mark(&mut self) -> std::result::Result<Vec<Value>, String> {
        let m = self.marks.pop().ok_or("no mark")?;
        if m > self.stack.len() {
            return Err("a mark past the stack".into());
        }
        Ok(self.stack.split_off(m))
    }

    fn push(&mut self, v: Value) -> Step {
        self.stack.push(v);
        Ok(())
    }

    /// Pushes a container made of values already on the stack, once its nesting is checked.
    fn push_nested(&mut self, v: Value) -> Step {
        v.children()
            .into_iter()
            .try_for_each(|c| check_depth(c, 1))?;
        self.push(v)
    }

    /// A copy of `v` for the memo, charged to what copies may still take.
    fn copy(&mut self, v: &Value) -> std::result::Result<Value, String> {
        let w = weight(v, self.copies_left).ok_or_else(|| {
            format!("its memo copies more than the file's size plus {} MiB of values (a pickle that doubles itself?)", COPY_ALLOWANCE >> 20)
        })?;
        self.copies_left -= w;
        Ok(v.clone())
    }

    fn step(&mut self, op: u8) -> Step {
        match op {
            0x80 => self.take(1).map(drop), // PROTO
            0x95 => self.take(8).map(drop), // FRAME
            b'(' => {
                self.marks.push(self.stack.len()); // MARK
                Ok(())
            }
            b'N' => self.push(Value::None),
            0x88 => self.push(Value::Bool(true)),
            0x89 => self.push(Value::Bool(false)),
            b'J' => {
                let b = self.take(4)?;
                let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                self.push(Value::Int(i64::from(v)))
            }
            b'K' => {
                let v = self.uint(1)?;
                self.push(Value::Int(v as i64))
            }
            b'M' => {
                let v = self.uint(2)?;
                self.push(Value::Int(v as i64))
            }
            0x8a => self.long1(),
            b'I' => self.int_line(),
            b'G' => {
                let b = self.take(8)?;
                let v = f64::from_be_bytes(b.try_into().map_err(|_| "a short float")?);
                self.push(Value::Float(v))
            }
            _ => self.step_containers(op),
        }
    }

    fn long1(&mut self) -> Step {
        let n = self.uint(1)?;
        let b = self.take(n)?;
        if n > 8 {
            return Err("an integer wider than 64 bits".into());
        }
        let mut v: i64 = 0;
        for (i, &x) in b.iter().enumerate() {
            v |= i64::from(x) << (8 * i);
        }
        if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
            v -= 1i64 << (8 * n);
        }
        self.push(Value::Int(v))
    }

    fn int_line(&mut self) -> Step {
        let l = self.line()?;
        let v = match l.as_str() {
            "00" => Value::Bool(false),
            "01" => Value::Bool(true),
            s => Value::Int(s.trim().parse().map_err(|_| format!("the integer {s:?}"))?),
        };
        self.push(v)
    }

    fn step_containers(&mut self, op: u8) -> Step {
        match op {
            b'U' | b'C' => self.bytes_of(1),
            b'T' | b'B' => self.bytes_of(4),
            0x8e | 0x96 => self.bytes_of(8),
            0x8c => self.str_of(1),
            b'X' => self.str_of(4),
            0x8d => self.str_of(8),
            b'}' => self.push(Value::Dict(Vec::new())),
            b']' => self.push(Value::List(Vec::new())),
            b')' => self.push(Value::Tuple(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.push_nested(Value::Tuple(items))
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                let at = self
                    .stack
                    .len()
                    .checked_sub(n)
                    .ok_or("the stack is too short")?;
                let items = self.stack.split_off(at);
                self.push_nested(Value::Tuple(items))
            }
            b'a' => {
                let v = self.pop()?;
                self.extend(vec![v])
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.extend(items)
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![k, v])
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(items)
            }
            _ => self.step_objects(op),
        }
    }

    fn step_objects(&mut self, op: u8) -> Step {
        match op {
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.push(Value::Global(module, name))
            }
            0x93 => {
                let name = self.pop()?.text().ok_or("a non-string global name")?;
                let module = self.pop()?.text().ok_or("a non-string module name")?;
                self.push(Value::Global(module, name))
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let f = self.pop()?;
                self.push_nested(Value::Call(Box::new(f), Box::new(args)))
            }
            b'b' => {
                let state = self.pop()?;
                let obj = self.pop()?;
                self.push_nested(Value::Build(Box::new(obj), Box::new(state)))
            }
            b'q' => {
                let i = self.uint(1)?;
                self.memo_put(i)
            }
            b'r' => {
                let i = self.uint(4)?;
                self.memo_put(i)
            }
            0x94 => self.memo_put(self.memo.len()),
            b'h' => {
                let i = self.uint(1)?;
                self.memo_get(i)
            }
            b'j' => {
                let i = self.uint(4)?;
                self.memo_get(i)
            }
            _ => Err("an opcode this reader does not support".into()),
        }
    }

    fn bytes_of(&mut self, width: usize) -> Step {
        let n = self.uint(width)?;
        let b = self.take(n)?.to_vec();
        self.push(Value::Bytes(b))
    }

    fn str_of(&mut self, width: usize) -> Step {
        let n = self.uint(width)?;
        let s =
            String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a string that is not UTF-8")?;
        self.push(Value::Str(s))
    }

    fn extend(&mut self, items: Vec<Value>) -> Step {
        items.iter().try_for_each(|c| check_depth(c, 1))?;
        match self.stack.last_mut() {
            Some(Value::List(l)) => {
                l.extend(items);
                Ok(())
            }
            _ => Err("appending to something that is not a list".into()),
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Step {
        if !items.len().is_multiple_of(2) {
            return Err("a key without a value".into());
        }
        items.iter().try_for_each(|c| check_depth(c, 1))?;
        let Some(Value::Dict(d)) = self.stack.last_mut() else {
            return Err("setting an item of something that is not a dict".into());
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        Ok(())
    }

    fn memo_put(&mut self, i: usize) -> Step {
        let top = self.stack.pop().ok_or("the stack is empty")?;
        let v = self.copy(&top);
        self.stack.push(top);
        self.memo.insert(i, v?);
        Ok(())
    }

    fn memo_get(&mut self, i: usize) -> Step {
        let v = self.memo.remove(&i);
        let v = v.ok_or_else(|| format!("memo index {i} was never set"))?;
        let copy = self.copy(&v);
        self.memo.insert(i, v);
        self.push(copy?)
    }
}

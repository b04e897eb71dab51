//! Writing a layer's fields in the model-file format.

use toml::Value;

/// The `key = value` lines of one `[[layers]]` table.
#[derive(Default)]
pub struct TomlOut {
    pub text: String,
}

impl TomlOut {
    pub fn str(&mut self, key: &str, v: impl std::fmt::Display) {
        self.text
            .push_str(&format!("{key} = {}\n", Value::String(v.to_string())));
    }

    pub fn int(&mut self, key: &str, v: usize) {
        self.text.push_str(&format!("{key} = {v}\n"));
    }

    pub fn float(&mut self, key: &str, v: f32) {
        self.text.push_str(&format!("{key} = {v:?}\n"));
    }

    pub fn pair(&mut self, key: &str, p: [usize; 2]) {
        self.text
            .push_str(&format!("{key} = [{}, {}]\n", p[0], p[1]));
    }
}

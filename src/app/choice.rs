//! The command line's choices among the library's named values (`--kernels`, `--optimizer`,
//! `--color`): clap lists, parses and refuses them by the names the library gives them
//! ([`Named`]), so the library knows no argument parser.

use std::ffi::OsStr;
use std::marker::PhantomData;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use crate::util::text::Named;

/// clap's parser for a [`Named`] value: `#[arg(long, value_parser = choice::<KernelFamily>())]`.
pub fn choice<T: Named>() -> Choice<T> {
    Choice(PhantomData)
}

/// See [`choice`].
#[derive(Clone, Copy, Debug)]
pub struct Choice<T>(PhantomData<T>);

fn possible<T: Named>(value: T) -> PossibleValue {
    PossibleValue::new(value.name()).aliases(value.aliases().iter().copied())
}

impl<T: Named> TypedValueParser for Choice<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        // clap's own parser checks the value and words the error (with the choices listed).
        let text = PossibleValuesParser::new(T::ALL.iter().map(|v| possible(*v)))
            .parse_ref(cmd, arg, value)?;
        let ignore_case = arg.is_some_and(|a| a.is_ignore_case_set());
        let found = T::ALL
            .iter()
            .find(|v| possible(**v).matches(&text, ignore_case));
        Ok(*found.expect("clap accepted only one of these names"))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(T::ALL.iter().map(|v| possible(*v))))
    }
}

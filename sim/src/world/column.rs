//! A column of integers held in 32 bits until a value does not fit, then in 64: the ground
//! truth and TT's ledger keep one value per event, so halving each halves their memory.

/// Values held in 32 bits until one does not fit, then all in 64: lossless either way.
pub(crate) enum Column {
    Narrow(Vec<i32>),
    Wide(Vec<i64>),
}

impl Default for Column {
    fn default() -> Self {
        Self::Narrow(Vec::new())
    }
}

impl Column {
    pub(crate) fn push(&mut self, value: i64) {
        match self {
            Self::Narrow(values) => match i32::try_from(value) {
                Ok(narrow) => values.push(narrow),
                Err(_) => {
                    let mut wide: Vec<i64> = values.iter().map(|&v| i64::from(v)).collect();
                    wide.push(value);
                    *self = Self::Wide(wide);
                }
            },
            Self::Wide(values) => values.push(value),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Self::Narrow(values) => values.len(),
            Self::Wide(values) => values.len(),
        }
    }

    pub(crate) fn get(&self, index: usize) -> i64 {
        match self {
            Self::Narrow(values) => i64::from(values[index]),
            Self::Wide(values) => values[index],
        }
    }
}

//! Seconds since the Unix epoch as a UTC calendar date and time, for names and records people
//! read (the days to a civil date by Howard Hinnant's algorithm).

/// A UTC date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: u64,
    pub minute: u64,
    pub second: u64,
}

/// The UTC date and time `secs` seconds after the Unix epoch.
pub fn utc(secs: u64) -> Utc {
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    Utc {
        year: yoe + era * 400 + i64::from(month <= 2),
        month,
        day: doy - (153 * mp + 2) / 5 + 1,
        hour: rest / 3600,
        minute: rest / 60 % 60,
        second: rest % 60,
    }
}

/// Seconds since the Unix epoch now (0 on a clock set before it).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn dates_across_leap_days_and_centuries() {
        let ymd = |s| {
            let t = utc(s);
            (t.year, t.month, t.day, t.hour, t.minute, t.second)
        };
        assert_eq!(ymd(0), (1970, 1, 1, 0, 0, 0));
        // `date -u -d @1796638539`: Mon Dec 7 10:15:39 UTC 2026.
        assert_eq!(ymd(1_796_638_539), (2026, 12, 7, 10, 15, 39));
        assert_eq!(ymd(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(ymd(4_102_444_799), (2099, 12, 31, 23, 59, 59));
    }
}

//! Slugs: the URL-safe name of an article, derived from its title.

/// Longest slug base; the suffix that makes a slug unique comes on top.
pub const BASE_MAX: usize = 80;

/// The slug a title asks for: lower-case ASCII words joined by `-`.
/// Non-Latin titles are transliterated (`Привет мир` → `privet-mir`), and a
/// title with nothing to transliterate (all punctuation) becomes `article`,
/// so every article gets a slug a URL can carry.
pub fn base(title: &str) -> String {
    let full = slug::slugify(title);
    let mut slug = String::with_capacity(full.len().min(BASE_MAX));
    for word in full.split('-') {
        let extra = if slug.is_empty() {
            word.len()
        } else {
            word.len() + 1
        };
        if slug.len() + extra > BASE_MAX {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(word);
    }
    if slug.is_empty() {
        // The first word alone was too long, or there was no word at all.
        slug = full
            .chars()
            .take(BASE_MAX)
            .collect::<String>()
            .trim_end_matches('-')
            .to_owned();
    }
    if slug.is_empty() {
        "article".to_owned()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::base;

    #[test]
    fn slugs_are_url_safe_for_any_title() {
        assert_eq!(
            base("How to Train Your Dragon!"),
            "how-to-train-your-dragon"
        );
        assert_eq!(base("Привет мир"), "privet-mir");
        assert_eq!(base("?!… —"), "article");
        assert!(!base("東京の夏").is_empty());
        for title in ["東京の夏", "Ünïcödé & <tags>", "a/b?c#d", "🦀 Rust"] {
            let slug = base(title);
            assert!(
                slug.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{slug}"
            );
        }
    }

    #[test]
    fn long_titles_cut_at_a_word_boundary() {
        let slug = base(&"word ".repeat(40));
        assert!(slug.len() <= super::BASE_MAX);
        assert!(!slug.ends_with('-'));
        assert_eq!(base(&"x".repeat(200)).len(), super::BASE_MAX);
    }
}

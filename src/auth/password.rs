//! Argon2id password hashes in PHC string form (parameters and salt travel with the hash).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand_core::OsRng;

use super::{AuthError, MIN_PASSWORD_LENGTH};
use crate::domain::{is_email_address, normalize_email};

/// Longest password accepted, in bytes: hashing cost grows with it, and no one types more.
pub const MAX_PASSWORD_BYTES: usize = 1_024;

/// A new account's password must be long enough (counted in characters, not bytes), and not
/// absurdly long.
pub fn check_new_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(AuthError::TooShort {
            min: MIN_PASSWORD_LENGTH,
        });
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::TooLong {
            what: "password",
            max: MAX_PASSWORD_BYTES,
        });
    }
    Ok(())
}

/// Longest account name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// A new account's email and name as they will be stored: the email normalized and of a valid
/// shape, the name trimmed, present, of at most [`MAX_NAME_CHARS`] and free of control characters.
/// Every way of registering an account (sign-up, first-admin setup, `user add`) goes through here.
pub fn check_new_account(email: &str, name: &str) -> Result<(String, String), AuthError> {
    let email = normalize_email(email);
    if !is_email_address(&email) {
        return Err(AuthError::NotAnEmail);
    }
    let name = name.trim();
    if name.is_empty() {
        return Err(AuthError::NameMissing);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AuthError::TooLong {
            what: "name",
            max: MAX_NAME_CHARS,
        });
    }
    if name.chars().any(char::is_control) {
        return Err(AuthError::NameInvalid);
    }
    Ok((email, name.to_string()))
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AuthError::Hash(error.to_string()))
}

/// Checks a password against a stored hash. A malformed stored hash never verifies.
pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_passwords_need_eight_characters_not_bytes() {
        assert!(check_new_password("sieben!").is_err());
        assert!(
            check_new_password("ééééééé").is_err(),
            "7 characters, 14 bytes"
        );
        assert!(check_new_password("acht ok!").is_ok());
        assert_eq!(
            check_new_password("short").map_err(|e| e.to_string()),
            Err("the password must be at least 8 characters long".to_string())
        );
    }

    #[test]
    fn passwords_and_account_fields_have_upper_bounds() {
        assert!(check_new_password(&"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert!(check_new_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert_eq!(
            check_new_account("  Ann@Example.com ", "  Ann Lee "),
            Ok(("ann@example.com".to_string(), "Ann Lee".to_string()))
        );
        assert_eq!(
            check_new_account("ann@example.com", &"n".repeat(MAX_NAME_CHARS + 1)),
            Err(AuthError::TooLong {
                what: "name",
                max: MAX_NAME_CHARS
            })
        );
        assert!(check_new_account("ann@example.com", &"\u{e9}".repeat(MAX_NAME_CHARS)).is_ok());
        assert_eq!(
            check_new_account("ann@example.com", "  "),
            Err(AuthError::NameMissing)
        );
        assert_eq!(
            check_new_account("ann@example.com", "Ann\u{7}"),
            Err(AuthError::NameInvalid)
        );
        assert_eq!(
            check_new_account("<script>alert(1)</script>@x.y", "Ann"),
            Err(AuthError::NotAnEmail)
        );
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let first = hash_password("correct horse").expect("hashes");
        let second = hash_password("correct horse").expect("hashes");
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second, "salted");
        assert!(verify_password(&first, "correct horse"));
        assert!(!verify_password(&first, "correct horsE"));
        assert!(!verify_password("not a hash", "correct horse"));
    }
}

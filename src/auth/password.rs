//! Argon2id password hashes in PHC string form (parameters and salt travel with the hash).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand_core::OsRng;

use super::{AuthError, MIN_PASSWORD_LENGTH};

/// A new account's password must be long enough (counted in characters, not bytes).
pub fn check_new_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        return Err(AuthError::TooShort {
            min: MIN_PASSWORD_LENGTH,
        });
    }
    Ok(())
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

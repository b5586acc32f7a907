"""Operations: background jobs, e-mail delivery."""

"""What tests share: throwaway projects and the tiny params profile."""

"""Customer profile (客户画像): point-in-time features and five-dimension scores."""

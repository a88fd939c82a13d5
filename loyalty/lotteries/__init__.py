"""Points lotteries: draws that cost points, prizes with odds and stock, an audit trail."""

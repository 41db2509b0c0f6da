namespace Smapp.Netlink.Wire;

/// <summary>Why a message or attribute could not be decoded, and where. A value, never an exception.</summary>
public sealed record DecodeError(DecodeErrorKind Kind, int Offset, string Detail)
{
    public override string ToString() => $"{Kind} at byte {Offset}: {Detail}";
}

public enum DecodeErrorKind
{
    TruncatedHeader,
    LengthPastBuffer,
    LengthTooShort,
    AttributeTruncated,
    AttributeLengthPastBuffer,
    AttributeWrongSize,
    MissingAttribute,
    BadValue,
    UnexpectedMessage,
}

namespace Smapp.Netlink.Route;

/// <summary>A local address or link change from rtnetlink.</summary>
public abstract record LocalChange;

public sealed record AddressChange(RtAddress Address) : LocalChange;

public sealed record LinkChange(RtLink Link) : LocalChange;

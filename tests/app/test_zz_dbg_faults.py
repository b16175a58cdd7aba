def test_dbg(stsmock):
    r = stsmock.fault("sts", error="Throttling", count=2)
    print("rule", r)
    print("items", stsmock.runtime.store.items("fault"))
    print("ext", stsmock.runtime.sts.ext)
    from botocore.exceptions import ClientError
    for i in range(3):
        try:
            stsmock.assume()
            print("ok")
        except ClientError as e:
            print(e.response["Error"]["Code"])
        print("items", stsmock.runtime.store.items("fault"))

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("vault", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="connectedaccount",
            name="last_revoked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="oauthstate",
            name="browser_hash",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
    ]
